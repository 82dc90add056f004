/**
 * `npm run bench`: every benchmark, each in a process of its own, then one JSON summary line last.
 * `pipeline` is the end-to-end one: HTTP reset, change and unlock through the agent, on npm start's stack.
 */
import '../shared/runtime/require-supported-node.js';
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** The default set; `npm run bench -- <name…>` runs the named ones (e.g. `rollover`, which takes minutes). */
const DEFAULT_BENCHES = ['servicebus', 'keyvault', 'pipeline'];
const benches = process.argv.slice(2).length ? process.argv.slice(2) : DEFAULT_BENCHES;

async function main(): Promise<void> {
  const results: Record<string, unknown> = {};
  for (const name of benches) {
    const script = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
    const { stdout, stderr } = await run(process.execPath, [script], { maxBuffer: 64 * 1024 * 1024 });
    process.stderr.write(stderr);
    const last = stdout.trim().split('\n').at(-1) ?? '';
    console.log(`${name}: ${last}`);
    results[name] = JSON.parse(last) as unknown;
  }
  // The machine's load at the end: these figures are only comparable at similar load.
  console.log(JSON.stringify({ benchmarks: results, loadAverage1m: loadavg()[0] }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
