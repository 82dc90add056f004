/**
 * The `@azure/functions-core` module, as the Azure Functions Node.js worker provides it: the library
 * (`@azure/functions`) does `require('@azure/functions-core')`, and the worker intercepts that name so it
 * resolves to this API. Functions and hooks the app registers while its entry points load end up here.
 */
import Module from 'node:module';
import path from 'node:path';
import type {
  CoreApi,
  Disposable as DisposableType,
  FunctionCallback,
  FunctionMetadata,
  HookCallback,
  HookData,
  HookName,
  ProgrammingModel,
  RpcLogCategory,
  RpcLogLevel,
} from './core-types.js';

/** The worker version we present; the library only checks that `log` exists (host >= 4.28). */
export const WORKER_VERSION = '3.10.1-local';
export const HOST_VERSION = '4.1037.0-local';

export class Disposable implements DisposableType {
  #callOnDispose: (() => void) | undefined;

  constructor(callOnDispose: () => void) {
    this.#callOnDispose = callOnDispose;
  }

  static from(...disposables: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => {
      for (const d of disposables) d.dispose();
    });
  }

  dispose(): void {
    const fn = this.#callOnDispose;
    this.#callOnDispose = undefined;
    fn?.();
  }
}

export interface RegisteredFunction {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
  /** The entry point file that registered it (for messages). */
  scriptFile: string;
}

export type SystemLogSink = (level: RpcLogLevel, category: RpcLogCategory, message: string) => void;

const HOOK_NAMES: readonly HookName[] = [
  'appStart',
  'appTerminate',
  'preInvocation',
  'postInvocation',
  'log',
];

/** The app as the worker knows it: registered functions, hooks and the programming model. */
export class WorkerApp {
  readonly functions = new Map<string, RegisteredFunction>();
  readonly hooks = new Map<HookName, HookCallback[]>(HOOK_NAMES.map((n) => [n, []]));
  /** Shared by all hooks of the app (`appHookData`). */
  readonly appHookData: HookData = {};
  /** Shared by appStart and appTerminate hooks only (their `hookData`). */
  readonly appLevelOnlyHookData: HookData = {};
  programmingModel: ProgrammingModel | undefined;
  currentEntryPoint: string | undefined;
  /** Once the app has started, registering or disposing a function is an error (as in the worker). */
  indexingLocked = false;

  constructor(readonly systemLog: SystemLogSink) {}

  readonly coreApi: CoreApi = {
    version: WORKER_VERSION,
    hostVersion: HOST_VERSION,
    registerFunction: (metadata, callback) => this.#registerFunction(metadata, callback),
    registerHook: (hookName, callback) => this.#registerHook(hookName, callback),
    setProgrammingModel: (model) => {
      if (this.programmingModel) {
        this.systemLog(
          'information',
          'system',
          `Setting Node.js programming model to "${model.name}" version "${model.version}"`,
        );
      }
      this.programmingModel = model;
    },
    getProgrammingModel: () => this.programmingModel,
    log: (level, category, message) => this.systemLog(level, category, message),
    Disposable,
  };

  #registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
    if (this.indexingLocked) throw new Error('A function can only be registered during app startup.');
    const id = metadata.functionId || metadata.name;
    if (this.functions.has(id)) throw new Error(`A function with id "${id}" has already been registered.`);
    this.functions.set(id, {
      metadata,
      callback,
      scriptFile: this.currentEntryPoint ? path.basename(this.currentEntryPoint) : 'unknown',
    });
    return new Disposable(() => {
      if (this.indexingLocked) throw new Error('A function can only be disposed during app startup.');
      this.functions.delete(id);
    });
  }

  #registerHook(hookName: string, callback: HookCallback): Disposable {
    const list = this.hooks.get(hookName as HookName);
    if (!list) {
      // The worker throws a RangeError for names it does not know; the library relies on that for `log`.
      throw new RangeError(
        `"${hookName}" is not a valid hook name. Valid values are: ${HOOK_NAMES.join(', ')}.`,
      );
    }
    list.push(callback);
    return new Disposable(() => {
      const i = list.indexOf(callback);
      if (i >= 0) list.splice(i, 1);
    });
  }

  /** Runs the hooks of one kind in registration order; a hook that throws stops the chain. */
  async executeHooks(name: HookName, context: object): Promise<void> {
    for (const hook of [...(this.hooks.get(name) ?? [])]) {
      await (hook as (c: object) => unknown)(context);
    }
  }

  /** Log hooks run synchronously, like the worker's. Errors in them are reported, not thrown. */
  runLogHooks(context: object): void {
    for (const hook of this.hooks.get('log') ?? []) {
      try {
        void (hook as (c: object) => unknown)(context);
      } catch (err) {
        this.systemLog(
          'warning',
          'system',
          `A log hook threw: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }
}

let installed: WorkerApp | undefined;

/**
 * Makes `require('@azure/functions-core')` return the app's core API in this process. The worker does the
 * same by wrapping `Module.prototype.require`; CommonJS modules such as the library call it for every
 * `require`. One app per process, like the real worker.
 */
export function installCoreModule(app: WorkerApp): void {
  if (installed) throw new Error('The @azure/functions-core module is already installed in this process.');
  installed = app;
  const proto = Module.prototype as unknown as { require: (id: string) => unknown };
  proto.require = new Proxy(proto.require, {
    apply(target, thisArg: unknown, args: [string]) {
      if (args[0] === '@azure/functions-core') return app.coreApi;
      return Reflect.apply(target, thisArg, args);
    },
  });
}
