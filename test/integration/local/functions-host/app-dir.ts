/**
 * Temporary function app folders for the host tests: package.json whose `main` is a glob over small
 * entry files, each importing one compiled fixture from dist/test/fixtures/functions-host/.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const FIXTURES = fileURLToPath(new URL('../../../fixtures/functions-host/', import.meta.url));

export interface TestApp {
  dir: string;
  dataDir: string;
  remove(): void;
}

export interface TestAppOptions {
  /** Fixture module names (without .js), e.g. 'http-app'. */
  fixtures: string[];
  hostJson?: Record<string, unknown>;
  localSettings?: Record<string, unknown>;
}

export function createTestApp(options: TestAppOptions): TestApp {
  const dir = mkdtempSync(path.join(tmpdir(), 'fh-app-'));
  mkdirSync(path.join(dir, 'entry'));
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'fixture-app', type: 'module', main: 'entry/*.js' }, null, 2),
  );
  writeFileSync(
    path.join(dir, 'host.json'),
    JSON.stringify({ version: '2.0', ...options.hostJson }, null, 2),
  );
  if (options.localSettings) {
    writeFileSync(path.join(dir, 'local.settings.json'), JSON.stringify(options.localSettings, null, 2));
  }
  for (const name of options.fixtures) {
    const target = path.join(FIXTURES, `${name}.js`);
    writeFileSync(
      path.join(dir, 'entry', `${name}.js`),
      `import ${JSON.stringify(new URL(`file://${target}`).href)};\n`,
    );
  }
  return {
    dir,
    dataDir: path.join(dir, 'data'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
