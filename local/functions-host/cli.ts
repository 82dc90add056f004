/**
 * The local Functions host as a command:
 *
 *   node dist/local/functions-host/cli.js --app <dir> [--port N] [--host 127.0.0.1] [--data-dir <dir>] [--cors <origins>] [--verbose]
 *
 * Prints the functions (HTTP routes with their URLs) and a ready line:
 *   Functions host ready at http://127.0.0.1:7071 (N functions). Press Ctrl+C to stop.
 * Stops gracefully on SIGINT/SIGTERM (exit 0), and by itself when its parent process goes away, so that
 * `npm start` never leaves it behind. Exit code 1 when the app cannot start, with the reason on stderr.
 * When spawned with an IPC channel (index.ts), it also sends `{ type: 'ready', ... }` there.
 */
import { parseArgs } from 'node:util';
import { startHost, type RunningHost } from './host.js';
import { describeError } from './invoke.js';
import { parseCorsOrigins } from './config.js';

const USAGE =
  'Usage: node dist/local/functions-host/cli.js --app <dir> [--port N] [--host 127.0.0.1] [--data-dir <dir>] [--cors <origins>] [--verbose]';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        app: { type: 'string' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'data-dir': { type: 'string' },
        'grace-ms': { type: 'string' },
        cors: { type: 'string' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!args.app) fail(`--app is required\n${USAGE}`);
  const port = args.port === undefined ? undefined : Number(args.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
    fail(`--port must be a port number\n${USAGE}`);
  const graceMs = args['grace-ms'] === undefined ? undefined : Number(args['grace-ms']);

  let host: RunningHost;
  try {
    host = await startHost({
      appDir: args.app,
      port,
      host: args.host,
      dataDir: args['data-dir'],
      verbose: args.verbose,
      gracePeriodMs: graceMs,
      ...(args.cors !== undefined ? { corsOrigins: parseCorsOrigins(args.cors) } : {}),
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`Functions host failed to start: ${message}\n`);
    if (args.verbose && err instanceof Error && err.cause)
      process.stderr.write(`${describeError(err.cause)}\n`);
    process.exit(1);
  }

  let exiting = false;
  const shutdown = (reason: string): void => {
    if (exiting) {
      // A second Ctrl+C: do not wait any longer.
      process.exit(1);
    }
    exiting = true;
    process.stdout.write(`[${new Date().toISOString()}] Stopping the host (${reason})...\n`);
    host.stop().then(
      () => {
        process.stdout.write(`[${new Date().toISOString()}] Host stopped.\n`);
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`Error while stopping: ${describeError(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  // Exit with the parent: watch the parent pid (it changes when the parent dies and the process is
  // re-parented). The IPC channel is not used for this: index.ts closes it once the host is ready.
  const parentPid = process.ppid;
  setInterval(() => {
    let alive = process.ppid === parentPid;
    if (alive) {
      try {
        process.kill(parentPid, 0);
      } catch {
        alive = false;
      }
    }
    if (!alive) shutdown('parent process exited');
  }, 1000).unref();

  const count = host.functions.length;
  process.stdout.write(
    `[${new Date().toISOString()}] Functions host ready at ${host.url} (${count} function${count === 1 ? '' : 's'}). Press Ctrl+C to stop.\n`,
  );
  if (process.send) {
    process.send({
      type: 'ready',
      url: host.url,
      port: host.port,
      dataDir: host.dataDir,
      functions: host.functions,
      keys: host.keys,
    });
  }
}

main().catch((err: unknown) => fail(`Functions host failed: ${describeError(err)}`));
