import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

// The repository root: this file runs as dist/test/unit/structure/lint-rules.test.js.
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const eslint = new ESLint({ cwd: ROOT });

/** The rule ids ESLint reports for `extra` appended to a real source file, linted in place. */
async function rulesFiredBy(path: string, extra: string): Promise<string[]> {
  const text = `${readFileSync(`${ROOT}${path}`, 'utf8')}\n${extra}\n`;
  const [result] = await eslint.lintText(text, { filePath: `${ROOT}${path}` });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

test('the structure rules pass on the sources as they are', async () => {
  for (const path of [
    'shared/domain/problems.ts',
    'shared/errors/index.ts',
    'shared/wire/trace.ts',
    'functions/who-am-i.ts',
  ]) {
    assert.deepEqual(await rulesFiredBy(path, ''), [], path);
  }
});

test('the floor imports nothing above it, and an upward import that closes a loop is a cycle', async () => {
  const fired = await rulesFiredBy(
    'shared/domain/problems.ts',
    "import type { Caller } from '../auth/index.js';\nexport type Upward = Caller;",
  );
  assert.ok(fired.includes('no-restricted-imports'), fired.join());
  assert.ok(fired.includes('structure/no-cycle'), fired.join());
});

test('errors import only the domain', async () => {
  const fired = await rulesFiredBy(
    'shared/errors/index.ts',
    "import type { Telemetry } from '../telemetry/index.js';\nexport type Upward = Telemetry;",
  );
  assert.ok(fired.includes('no-restricted-imports'), fired.join());
});

test('another shared/ folder is reached only through its index.ts', async () => {
  const fired = await rulesFiredBy(
    'functions/who-am-i.ts',
    "import { problemResponse } from '../shared/http/problem.js';\nexport const p = problemResponse;",
  );
  assert.deepEqual(fired, ['structure/through-index']);
});

test('an import cycle fails lint', async () => {
  const fired = await rulesFiredBy(
    'shared/wire/trace.ts',
    "import { httpTrigger } from '../http/index.js';\nexport const trigger = httpTrigger;",
  );
  assert.ok(fired.includes('structure/no-cycle'), fired.join());
});
