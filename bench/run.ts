/**
 * `npm run bench`: the default set (`capacity`: every part of a reset measured in one run on npm start's
 * stack, with its report and capacity model), each benchmark in a process of its own, then one JSON
 * summary line last. `npm run bench -- <name…>` runs the named ones instead: `rollover` (minutes of key
 * rollovers under load), `servicebus` and `keyvault` (each emulator alone).
 * `npm run bench -- --soak 10m`: the soak benchmark alone (soak.ts); exits 1 if any of its operations failed.
 * Every benchmark's progress (its stderr) is shown as it comes; its last stdout line is its JSON summary.
 */
import '../shared/runtime/require-supported-node.js';
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
/** The default set; `npm run bench -- <name…>` runs the named ones (e.g. `rollover`, which takes minutes). */
const DEFAULT_BENCHES = ['capacity'];
const { values, positionals } = parseArgs({ options: { soak: { type: 'string' } }, allowPositionals: true });
const jobs = values.soak
  ? [{ name: 'soak', args: ['--duration', values.soak] }]
  : (positionals.length ? positionals : DEFAULT_BENCHES).map((name) => ({ name, args: [] as string[] }));

const lastLineOf = (text: string) => text.trim().split('\n').at(-1) ?? '';

async function main(): Promise<void> {
  const results: Record<string, unknown> = {};
  let failed = false;
  for (const { name, args } of jobs) {
    const script = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
    const job = run(process.execPath, [script, ...args], { maxBuffer: 64 * 1024 * 1024 });
    // Progress lines (the soak's intervals, the capacity run's levels) are shown as they come.
    job.child.stderr?.pipe(process.stderr);
    // A benchmark that failed but still printed its summary (the soak, on errors) is reported, then fails the run.
    const { stdout } = await job.catch((error: { stdout?: string }) => {
      if (!lastLineOf(error.stdout ?? '').startsWith('{')) throw error;
      failed = true;
      return { stdout: error.stdout ?? '' };
    });
    const last = lastLineOf(stdout);
    console.log(`${name}: ${last}`);
    results[name] = JSON.parse(last) as unknown;
  }
  // The machine's load at the end: these figures are only comparable at similar load.
  console.log(JSON.stringify({ benchmarks: results, loadAverage1m: loadavg()[0] }));
  if (failed) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
