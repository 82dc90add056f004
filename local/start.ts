/**
 * `npm start`: the whole local stack in one command, on the same compiled app that runs in Azure.
 * `npm run emulators` (`--emulators-only`): everything but the Functions host, for the real `func start`.
 *
 * Each service is a child process; Ctrl-C (or SIGTERM) stops them all in reverse order, and each
 * child also stops by itself if this process dies, so nothing is left behind.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startAzurite } from './azurite/index.js';
import { startService, type ServiceProcess } from './process/child.js';

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const script = (relative: string): string => path.join(root, 'dist', 'local', relative);

interface Running {
  name: string;
  stop(): Promise<void>;
}

function prefixed(name: string): (line: string) => void {
  const tag = `[${name}]`.padEnd(12);
  return (line) => console.log(`${tag} ${line}`);
}

/**
 * The app's settings: local.settings.json when the developer has one (as Core Tools reads it),
 * otherwise the sample, which works against this stack as it is.
 */
async function readLocalSettings(): Promise<{ file: string; values: Record<string, string> }> {
  for (const name of ['local.settings.json', 'local.settings.sample.json']) {
    const file = path.join(root, name);
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as { Values?: Record<string, string> };
      return { file: name, values: parsed.Values ?? {} };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${name} is not valid JSON`);
    }
  }
  throw new Error('neither local.settings.json nor local.settings.sample.json was found');
}

const options = {
  'emulators-only': { type: 'boolean', default: false },
  'data-dir': { type: 'string', default: path.join(root, '.local') },
  'host-port': { type: 'string', default: '7071' },
  'identity-port': { type: 'string', default: '7072' },
  'blob-port': { type: 'string', default: '10000' },
  'queue-port': { type: 'string', default: '10001' },
  'table-port': { type: 'string', default: '10002' },
} as const;

function portOf(flags: Record<string, unknown>, name: string): number {
  const port = Number(flags[name]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--${name} must be a TCP port`);
  return port;
}

async function main(): Promise<void> {
  const { values: flags } = parseArgs({ options });
  const emulatorsOnly = flags['emulators-only'];
  const dataDir = path.resolve(flags['data-dir']);
  const running: Running[] = [];
  let stopping = false;

  const stopAll = async (exitCode: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      console.log('\nStopping the local stack...');
      for (const service of running.reverse()) {
        await service
          .stop()
          .catch((error: unknown) => console.error(`${service.name} did not stop cleanly: ${String(error)}`));
      }
      console.log('Stopped.');
    }
    process.exit(exitCode);
  };
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));

  try {
    const settings = await readLocalSettings();
    const hostPort = portOf(flags, 'host-port');
    const identityPort = portOf(flags, 'identity-port');

    const azurite = await startAzurite({
      location: path.join(dataDir, 'azurite'),
      blobPort: portOf(flags, 'blob-port'),
      queuePort: portOf(flags, 'queue-port'),
      tablePort: portOf(flags, 'table-port'),
      onLine: prefixed('azurite'),
    });
    running.push({ name: 'azurite', stop: azurite.stop });

    const identity: ServiceProcess = await startService({
      name: 'identity',
      script: script('identity/server-cli.js'),
      args: ['--port', String(identityPort), '--data-dir', path.join(dataDir, 'identity')],
      ready: /identity provider ready/,
      onLine: prefixed('identity'),
    });
    running.push({ name: 'identity', stop: () => identity.stop() });
    const issuer = `http://127.0.0.1:${identityPort}/{tenantId}/v2.0`;

    // The endpoints of what was just started win over the settings file, as environment variables
    // win over local.settings.json in Core Tools.
    const hostEnv: NodeJS.ProcessEnv = {
      ...process.env,
      ...settings.values,
      AzureWebJobsStorage: azurite.connectionString,
      AUTH_ISSUER: issuer,
    };
    if (!emulatorsOnly) {
      const host = await startService({
        name: 'functions',
        script: script('functions-host/cli.js'),
        args: ['--app', root, '--port', String(hostPort), '--data-dir', path.join(dataDir, 'functions-host')],
        env: hostEnv,
        ready: /Functions host ready/i,
        timeoutMs: 60_000,
        onLine: prefixed('functions'),
      });
      running.push({ name: 'functions', stop: () => host.stop() });
    }

    const api = `http://127.0.0.1:${hostPort}/api`;
    const lines = [
      '',
      '  Password writeback: local stack',
      '  -------------------------------',
      emulatorsOnly
        ? '  Functions host   not started: copy local.settings.sample.json to local.settings.json, then `func start`'
        : `  Functions host   ${api}   (GET /health, GET /openapi.json)`,
      `  Identity         http://127.0.0.1:${identityPort}   AUTH_ISSUER=${issuer}`,
      `  Azurite          blob ${azurite.blobPort}, queue ${azurite.queuePort}, table ${azurite.tablePort}   (data in ${path.join(dataDir, 'azurite')})`,
      `  Settings         ${settings.file}`,
      '',
      '  Try it:',
      '    TOKEN=$(npm run -s token -- --tenant contoso --user alice@contoso.test)',
      `    curl -s ${api}/health`,
      `    curl -s -H "Authorization: Bearer $TOKEN" ${api}/tenants/contoso/me`,
      '',
      '  Ctrl-C stops everything.',
      '',
    ];
    console.log(lines.join('\n'));
  } catch (error) {
    console.error(
      `The local stack failed to start: ${error instanceof Error ? error.message : String(error)}`,
    );
    await stopAll(1);
  }
}

void main();
