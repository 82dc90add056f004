/**
 * The local Functions host inside one process: settings, the app's entry points (through the
 * `@azure/functions-core` API), then the HTTP listener, timers and Service Bus listeners. One app per
 * process, like the real worker; `cli.ts` runs it and `index.ts` spawns the CLI.
 */
import path from 'node:path';
import { WorkerApp, installCoreModule, type RegisteredFunction } from './core-api.js';
import type { WorkerCapabilities } from './core-types.js';
import { applyLocalSettings, HostStartError, readHostJson, readLocalSettings } from './config.js';
import { loadEntryPoints } from './app-loader.js';
import {
  buildHttpRoutes,
  DEFAULT_MAX_REQUEST_BODY_BYTES,
  describeRoute,
  startHttpServer,
  type HttpRoute,
  type RunningHttpServer,
} from './http-trigger.js';
import { waitForIdle, describeError } from './invoke.js';
import { KeyStore, secretsDir, type HostKeys } from './keys.js';
import { HostLogger, levelFromDotNet } from './log.js';
import {
  buildServiceBusFunctions,
  ServiceBusListeners,
  type ServiceBusFunction,
} from './servicebus-trigger.js';
import { buildTimers, TimerScheduler, type TimerFunction } from './timer-trigger.js';

export const DEFAULT_PORT = 7071;
export const DEFAULT_HOST = '127.0.0.1';

export interface HostOptions {
  /** The function app: the folder with package.json (whose `main` names the entry points) and host.json. */
  appDir: string;
  /** HTTP port; 0 picks a free one. Default: local.settings.json Host.LocalHttpPort, else 7071. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Keys, timer status. Default: FUNCTIONS_LOCAL_DATA_DIR, else `<appDir>/.local/functions-host`. */
  dataDir?: string;
  /** Largest accepted request body. Default: FUNCTIONS_REQUEST_BODY_SIZE_LIMIT, else 100 MB. */
  maxRequestBodyBytes?: number;
  /** Key overrides (not written to disk). Default: FUNCTIONS_LOCAL_MASTER_KEY / FUNCTIONS_LOCAL_FUNCTION_KEY. */
  keys?: Partial<HostKeys>;
  /** How long stop() waits for invocations in flight. Default 10 s. */
  gracePeriodMs?: number;
  /** Origins allowed by CORS. Default: local.settings.json Host.CORS. */
  corsOrigins?: string[];
  /** Show the worker's debug lines. */
  verbose?: boolean;
  /** Where output lines go. Default stdout. */
  write?: (line: string) => void;
}

export type FunctionSummary =
  | { name: string; trigger: 'http'; url: string; route: string; methods: string[] | null; authLevel: string }
  | { name: string; trigger: 'timer'; schedule: string; runOnStartup: boolean; useMonitor: boolean }
  | { name: string; trigger: 'serviceBus'; entity: string; subscription?: string; connection: string }
  | { name: string; trigger: 'other'; type: string }
  | { name: string; trigger: 'error'; error: string };

export interface RunningHost {
  url: string;
  port: number;
  dataDir: string;
  functions: FunctionSummary[];
  keys: HostKeys;
  /** Stops accepting work, waits for invocations in flight (bounded), runs appTerminate hooks. */
  stop(): Promise<void>;
}

function positiveInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new HostStartError(`${name} must be a positive integer (bytes)`);
  return n;
}

function triggerType(fn: RegisteredFunction): string {
  return (
    Object.values(fn.metadata.bindings)
      .find((b) => /trigger$/i.test(String(b.type)))
      ?.type?.toString() ?? 'unknown'
  );
}

export async function startHost(options: HostOptions): Promise<RunningHost> {
  const env = process.env;
  const appDir = path.resolve(options.appDir);
  // Settings first: `AzureFunctionsJobHost__…` settings, local.settings.json's included, override host.json.
  const localSettings = readLocalSettings(appDir);
  const skipped = applyLocalSettings(localSettings.values, env);
  const hostJson = readHostJson(appDir, env);
  const logger = new HostLogger({
    verbose: options.verbose,
    functionLevel: levelFromDotNet(hostJson.functionLogLevel),
    write: options.write,
  });
  for (const message of skipped) logger.info(message);
  env.AzureWebJobsScriptRoot ??= appDir;
  env.AZURE_FUNCTIONS_ENVIRONMENT ??= 'Development';
  if (env.FUNCTIONS_WORKER_RUNTIME && env.FUNCTIONS_WORKER_RUNTIME !== 'node') {
    logger.system(
      'warning',
      `FUNCTIONS_WORKER_RUNTIME is '${env.FUNCTIONS_WORKER_RUNTIME}'; this host only runs Node.js apps.`,
    );
  }

  const dataDir = path.resolve(
    options.dataDir ?? env.FUNCTIONS_LOCAL_DATA_DIR ?? path.join(appDir, '.local', 'functions-host'),
  );
  const keyStore = new KeyStore(dataDir, {
    masterKey: options.keys?.masterKey ?? (env.FUNCTIONS_LOCAL_MASTER_KEY || undefined),
    functionKey: options.keys?.functionKey ?? (env.FUNCTIONS_LOCAL_FUNCTION_KEY || undefined),
  });
  // The app has no business reading the host's keys.
  delete env.FUNCTIONS_LOCAL_MASTER_KEY;
  delete env.FUNCTIONS_LOCAL_FUNCTION_KEY;
  const maxRequestBodyBytes =
    options.maxRequestBodyBytes ??
    positiveInt(env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT, 'FUNCTIONS_REQUEST_BODY_SIZE_LIMIT') ??
    DEFAULT_MAX_REQUEST_BODY_BYTES;

  const app = new WorkerApp((level, _category, message) => logger.system(level, message));
  installCoreModule(app);
  await loadEntryPoints(app, appDir);

  const model = app.programmingModel;
  if (model?.getCapabilities) {
    const capabilities: WorkerCapabilities = {
      RawHttpBodyBytes: 'true',
      RpcHttpTriggerMetadataRemoved: 'true',
      RpcHttpBodyOnly: 'true',
      IgnoreEmptyValuedRpcHttpHeaders: 'true',
      UseNullableValueDictionaryForHttp: 'true',
      WorkerStatus: 'true',
      TypedDataCollection: 'true',
      HandlesWorkerTerminateMessage: 'true',
    };
    const granted = await model.getCapabilities(capabilities);
    if (granted.HttpUri) {
      throw new HostStartError(
        'The app enabled HTTP streaming (app.setup({ enableHttpStream: true })), which the local host does not support',
      );
    }
  }
  app.indexingLocked = true;
  // `AzureWebJobs.<name>.Disabled` (or `AzureWebJobs_<name>_Disabled`, as Linux app settings spell it)
  // takes a function out of this host, as the real host does: no route, no timer, no listener.
  const isDisabled = (name: string) =>
    [`AzureWebJobs.${name}.Disabled`, `AzureWebJobs_${name}_Disabled`].some((key) =>
      /^(true|1)$/i.test(env[key]?.trim() ?? ''),
    );
  const functions = [...app.functions.values()].filter((fn) => {
    if (!isDisabled(fn.metadata.name)) return true;
    logger.system('information', `Function '${fn.metadata.name}' is disabled.`);
    return false;
  });
  if (functions.length === 0) logger.system('warning', 'No job functions found.');

  // A function whose trigger cannot be set up is "in error", and the others still run (as in the host).
  const failed = new Map<string, string>();
  const timers: TimerFunction[] = [];
  const serviceBus: ServiceBusFunction[] = [];
  for (const fn of functions) {
    try {
      buildHttpRoutes([fn], hostJson.routePrefix); // validates the route template
      timers.push(...buildTimers([fn], env));
      serviceBus.push(...buildServiceBusFunctions([fn], env));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      failed.set(fn.metadata.name, message);
      logger.system('error', `The '${fn.metadata.name}' function is in error: ${message}`);
    }
  }
  const routes: HttpRoute[] = buildHttpRoutes(
    functions.filter((f) => !failed.has(f.metadata.name)),
    hostJson.routePrefix,
  );

  await app.executeHooks('appStart', {
    hookData: app.appLevelOnlyHookData,
    appHookData: app.appHookData,
    functionAppDirectory: appDir,
  });

  const server: RunningHttpServer = await startHttpServer({
    app,
    routes,
    keys: keyStore,
    logger,
    host: options.host ?? DEFAULT_HOST,
    port: options.port ?? localSettings.localHttpPort ?? DEFAULT_PORT,
    maxRequestBodyBytes,
    functionTimeoutMs: hostJson.functionTimeoutMs,
    corsOrigins: options.corsOrigins ?? localSettings.corsOrigins,
  });
  const scheduler = new TimerScheduler(app, timers, dataDir, logger, hostJson.functionTimeoutMs);
  const listeners = new ServiceBusListeners(
    app,
    serviceBus,
    hostJson.serviceBus,
    env,
    logger,
    hostJson.functionTimeoutMs,
  );
  try {
    listeners.start();
  } catch (err) {
    await server.close(0);
    await listeners.stop(0);
    throw err;
  }
  scheduler.start();

  const summaries: FunctionSummary[] = functions.map((fn): FunctionSummary => {
    const name = fn.metadata.name;
    const error = failed.get(name);
    if (error) return { name, trigger: 'error', error };
    const route = routes.find((r) => r.fn === fn);
    if (route) {
      return {
        name,
        trigger: 'http',
        url: `${server.url}/${route.template.text}`,
        route: route.template.text,
        methods: route.methods ?? null,
        authLevel: route.authLevel,
      };
    }
    const timer = timers.find((t) => t.fn === fn);
    if (timer)
      return {
        name,
        trigger: 'timer',
        schedule: timer.schedule.text,
        runOnStartup: timer.runOnStartup,
        useMonitor: timer.useMonitor,
      };
    const sb = serviceBus.find((s) => s.fn === fn);
    if (sb) {
      return {
        name,
        trigger: 'serviceBus',
        entity: sb.entityName,
        ...(sb.subscriptionName ? { subscription: sb.subscriptionName } : {}),
        connection: sb.connection,
      };
    }
    return { name, trigger: 'other', type: triggerType(fn) };
  });
  for (const fn of functions) {
    if (
      !failed.has(fn.metadata.name) &&
      !summaries.some((s) => s.name === fn.metadata.name && s.trigger !== 'other')
    ) {
      logger.system(
        'warning',
        `Function '${fn.metadata.name}' has a ${triggerType(fn)} trigger, which the local host does not run.`,
      );
    }
  }
  logger.info('Functions:');
  for (const s of summaries) {
    const route = routes.find((r) => r.functionName === s.name);
    let text: string;
    if (route) text = describeRoute(route, server.url);
    else if (s.trigger === 'timer')
      text = `timerTrigger (${s.schedule}${s.runOnStartup ? ', runOnStartup' : ''})`;
    else if (s.trigger === 'serviceBus') {
      text = `serviceBusTrigger (${s.subscription ? `topic ${s.entity}, subscription ${s.subscription}` : `queue ${s.entity}`}, connection ${s.connection})`;
    } else if (s.trigger === 'error') text = `in error: ${s.error}`;
    else text = `${s.trigger === 'other' ? s.type : s.trigger} (not run locally)`;
    logger.info(`    ${s.name}: ${text}`);
  }
  logger.info(`Keys: ${path.join(secretsDir(dataDir), 'host.json')}`);

  const gracePeriodMs = options.gracePeriodMs ?? 10_000;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      scheduler.stop();
      const [drained] = await Promise.all([server.close(gracePeriodMs), listeners.stop(gracePeriodMs)]);
      const idle = drained && (await waitForIdle(gracePeriodMs));
      if (!idle)
        logger.system('warning', `Invocations still running after ${gracePeriodMs} ms; stopping anyway.`);
      try {
        await app.executeHooks('appTerminate', {
          hookData: app.appLevelOnlyHookData,
          appHookData: app.appHookData,
        });
      } catch (err) {
        logger.system('error', `An appTerminate hook failed: ${describeError(err)}`);
      }
    })();
    return stopping;
  };

  return { url: server.url, port: server.port, dataDir, functions: summaries, keys: keyStore.keys, stop };
}
