/**
 * A real Chromium for the portal's tests (playwright-core driving Debian's `chromium`, which .ci/run
 * installs): headless, a fresh user-data directory, no background traffic. The local CA is trusted the
 * way a person would trust it on Linux, in the NSS database of the browser's own (temporary) home
 * directory: no certificate check is turned off.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext } from 'playwright-core';

const run = promisify(execFile);

/** Debian's package; CHROMIUM_PATH names another build. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface Browser {
  context: BrowserContext;
  /** Every URL the browser requested or navigated to (with its fragment), in order. */
  requestedUrls: string[];
  close(): Promise<void>;
}

/** Whether Chromium and certutil are here (the test says what to install when they are not). */
export function browserAvailable(): boolean {
  return existsSync(CHROMIUM) && ['/usr/bin/certutil', '/bin/certutil'].some(existsSync);
}

export async function launchChromium(options: { trustCa: string }): Promise<Browser> {
  const home = await mkdtemp(path.join(tmpdir(), 'portal-browser-'));
  const nssdb = `sql:${path.join(home, '.pki', 'nssdb')}`;
  await mkdir(path.join(home, '.pki', 'nssdb'), { recursive: true });
  await run('certutil', ['-N', '-d', nssdb, '--empty-password']);
  await run('certutil', ['-A', '-d', nssdb, '-n', 'writeback-local-ca', '-t', 'C,,', '-i', options.trustCa]);
  const context = await chromium.launchPersistentContext(path.join(home, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
    env: { ...process.env, HOME: home },
    viewport: { width: 1100, height: 900 },
    timeout: 30_000,
  });
  context.setDefaultTimeout(30_000);
  const requestedUrls: string[] = [];
  context.on('request', (request) => requestedUrls.push(request.url()));
  // Requests carry no fragment; navigations do (an authorization code comes back in one).
  context.on('page', (page) => page.on('framenavigated', (frame) => requestedUrls.push(frame.url())));
  return {
    context,
    requestedUrls,
    async close() {
      await context.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}
