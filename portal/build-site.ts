/**
 * The portal's one build step, after `tsc -p portal/tsconfig.json` has compiled portal/src to
 * dist/portal/site/js: copies the pages (portal/public) and MSAL.js's browser bundle beside them, so
 * that dist/portal/site/ is the whole static site, as deployed (README: The portal).
 */
import '../shared/runtime/require-supported-node.js';
import { cp, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Where the site is assembled. */
export const SITE_DIR = path.join(root, 'dist', 'portal', 'site');

export async function buildSite(siteDir: string = SITE_DIR): Promise<void> {
  await mkdir(path.join(siteDir, 'vendor'), { recursive: true });
  await cp(path.join(root, 'portal', 'public'), siteDir, { recursive: true });
  // The UMD bundle: one file, the global `msal`; no bundler and no import map needed.
  const msal = createRequire(import.meta.url).resolve('@azure/msal-browser/package.json');
  await cp(
    path.join(path.dirname(msal), 'lib', 'msal-browser.min.js'),
    path.join(siteDir, 'vendor', 'msal-browser.min.js'),
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildSite();
}
