/**
 * Loads the app's entry points as the Node.js worker does: package.json `main` is a file or a glob
 * (e.g. `dist/functions/*.js`), every match is imported, ESM with `import()` when the file is `.mjs` or
 * the package is `"type": "module"`, CommonJS with `require` otherwise. A file that throws while loading
 * stops the app (the worker blocks on entry point errors from Node 20 on), with the worker's message:
 * `Worker was unable to load entry point "<file>": <message>`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { glob, isDynamicPattern } from 'tinyglobby';
import type { WorkerApp } from './core-api.js';
import { HostStartError } from './config.js';

interface PackageJson {
  main?: string;
  type?: string;
}

function readPackageJson(appDir: string): PackageJson {
  const file = path.join(appDir, 'package.json');
  if (!existsSync(file))
    throw new HostStartError(
      `No package.json in ${appDir}: the worker needs its "main" to find the functions`,
    );
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
  } catch (err) {
    throw new HostStartError(`Worker failed to load package.json: ${(err as Error).message}`);
  }
}

export async function entryPointFiles(appDir: string): Promise<string[]> {
  const pkg = readPackageJson(appDir);
  const pattern = pkg.main;
  if (!pattern)
    throw new HostStartError(
      `package.json in ${appDir} has no "main"; set it to the compiled functions, e.g. "dist/functions/*.js"`,
    );
  const files = (
    await glob(pattern, { cwd: appDir, absolute: true, onlyFiles: true, expandDirectories: false })
  ).sort();
  if (files.length === 0) {
    const why = isDynamicPattern(pattern)
      ? 'Found zero files matching the supplied pattern'
      : 'File does not exist';
    throw new HostStartError(`Worker was unable to load entry point "${pattern}": ${why}`);
  }
  return files;
}

export async function loadEntryPoints(app: WorkerApp, appDir: string): Promise<string[]> {
  const pkg = readPackageJson(appDir);
  const files = await entryPointFiles(appDir);
  const requireFromApp = createRequire(path.join(appDir, 'package.json'));
  for (const file of files) {
    app.currentEntryPoint = file;
    try {
      const esm = file.endsWith('.mjs') || (!file.endsWith('.cjs') && pkg.type === 'module');
      if (esm) await import(pathToFileURL(file).href);
      else requireFromApp(file);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new HostStartError(
        `Worker was unable to load entry point "${path.relative(appDir, file)}": ${message}`,
        { cause: err },
      );
    } finally {
      app.currentEntryPoint = undefined;
    }
  }
  return files;
}
