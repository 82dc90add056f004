/**
 * `npm run bench`: every benchmark, each in a process of its own, then one JSON summary line last.
 * `pipeline` is the end-to-end one: HTTP reset, change and unlock through the agent, on npm start's stack.
 * `npm run bench -- --soak 10m`: the soak benchmark alone (soak.ts), its interval reports shown as they
 * come; exits 1 if any of its operations failed.
 */
import '../shared/runtime/require-supported-node.js';
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
/** The default set; `npm run bench -- <name…>` runs the named ones (e.g. `rollover`, which takes minutes). */
const DEFAULT_BENCHES = ['servicebus', 'keyvault', 'pipeline'];
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
    // The soak reports every interval on stderr, for minutes or hours: shown as it comes.
    if (name === 'soak') job.child.stderr?.pipe(process.stderr);
    // A benchmark that failed but still printed its summary (the soak, on errors) is reported, then fails the run.
    const { stdout, stderr } = await job.catch((error: { stdout?: string; stderr?: string }) => {
      if (!lastLineOf(error.stdout ?? '').startsWith('{')) throw error;
      failed = true;
      return { stdout: error.stdout ?? '', stderr: error.stderr ?? '' };
    });
    if (name !== 'soak') process.stderr.write(stderr);
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
