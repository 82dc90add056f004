/**
 * The Functions app's load time, the local counterpart of a cold start in Azure: from spawning a host
 * process until every function is registered. The local host logs `[<ISO time>] Functions:` once the
 * app's entry points are imported and every trigger is set up; that time, against the time of the
 * spawn (same clock, milliseconds), is the figure. Each run is a new host process on the running
 * stack's settings (the environment its own host started with), on a port and data folder of its own.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startService } from '../local/process/child.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface AppLoadFigures {
  /** Spawn → every function registered, each run (ms). */
  registeredMs: number[];
  /** Spawn → the host's ready line read here, each run (ms). */
  readyMs: number[];
}

/** The environment a running process was started with (/proc/<pid>/environ). */
async function environmentOf(pid: number): Promise<NodeJS.ProcessEnv> {
  const entries = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean);
  const env = Object.fromEntries(
    entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
  );
  // The IPC channel of the original spawn is not this one's.
  delete env.NODE_CHANNEL_FD;
  delete env.NODE_CHANNEL_SERIALIZATION_MODE;
  return env;
}

/** `runs` host starts, one after another, with the settings of the host process `hostPid`. */
export async function measureAppLoad(hostPid: number, runs: number): Promise<AppLoadFigures> {
  const env = await environmentOf(hostPid);
  const figures: AppLoadFigures = { registeredMs: [], readyMs: [] };
  for (let run = 0; run < runs; run++) {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'writeback-app-load-'));
    try {
      const spawnedAt = Date.now();
      const host = await startService({
        name: 'functions host (load time)',
        script: path.join(ROOT, 'dist/local/functions-host/cli.js'),
        args: ['--app', ROOT, '--port', '0', '--data-dir', dataDir],
        env,
        ready: /Functions host ready at/,
        timeoutMs: 60_000,
      });
      figures.readyMs.push(Date.now() - spawnedAt);
      const registered = /^\[(\S+)\] Functions:$/m.exec(host.output())?.[1];
      await host.stop('SIGTERM');
      if (!registered) throw new Error(`the host never listed its functions:\n${host.output()}`);
      figures.registeredMs.push(Date.parse(registered) - spawnedAt);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }
  return figures;
}
