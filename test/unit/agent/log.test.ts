/** The agent's log on stdout: batched writes lose no line, keep their order, and reach stdout on exit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LOG_MODULE = fileURLToPath(new URL('../../../agent/log.js', import.meta.url));

function runScript(script: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { jsonLogger } = await import(${JSON.stringify(LOG_MODULE)});\n${script}`,
      ],
      { timeout: 20_000 },
      (error, stdout) => resolve({ code: error ? (error.code as number) : 0, stdout }),
    );
  });
}

// 200 lines stay in the buffer (under 16 KiB) and under a pipe's capacity: what this checks is the write at
// exit. (Lines already handed to a full pipe are Node's: process.exit() drops its pending writes.)
test('every line is written, in order, when the process exits at once', async () => {
  const { code, stdout } = await runScript(
    "const log = jsonLogger({ agentId: 'a' });\nfor (let i = 0; i < 200; i++) log.info('line', { i });\nprocess.exit(3);",
  );
  assert.equal(code, 3);
  const lines = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { i: number; agentId: string });
  assert.equal(lines.length, 200);
  assert.deepEqual(
    lines.map((line) => line.i),
    Array.from({ length: 200 }, (_, i) => i),
  );
  assert.ok(lines.every((line) => line.agentId === 'a'));
});

test('a line logged while the process goes on is written soon, not held until exit', async () => {
  const { stdout } = await runScript(
    "const log = jsonLogger({});\nlog.warn('early');\n" +
      // Exit from a timer well after the flush, without letting 'exit' write what was buffered.
      "setTimeout(() => process.kill(process.pid, 'SIGKILL'), 300);",
  );
  assert.match(stdout, /"message":"early"/);
});
