/**
 * Key Vault's creation limit, on: 200 tenants roll with the Key Vault emulator enforcing Key Vault's
 * software-key budget (20 creations per window; the window is shortened to 500 ms so the test takes
 * seconds, not minutes) and the timer's pacer keeping under it. No 429 is met, nothing is logged as
 * an error, every tenant rolls once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { serviceBusEndpointFromSettings } from '../../../shared/azure/clients.js';
import { CreationPacer, rolloverPolicy, TIMER_ACTOR } from '../../../shared/rollover/index.js';
import { AuditLog } from '../../../shared/tenants/audit.js';
import { TenantRegistry } from '../../../shared/tenants/tenant-registry.js';
import { WritebackTenants } from '../../../shared/tenants/writeback-tenants.js';
import { startCloud, type CloudUnderTest } from '../../support/cloud.js';
import { keyRolloverOn } from './support.js';

const TENANTS = 200;
const WINDOW_MS = 500;
const PERIOD_MS = 60 * 60_000;

let cloud: CloudUnderTest;
before(async () => {
  cloud = await startCloud({
    sharedRepliesQueue: true,
    env: { WRITEBACK_KEY_PROTECTION: 'software' },
    keyVaultThrottle: { windowMs: WINDOW_MS },
  });
});
after(() => cloud?.stop());

test(`${TENANTS} tenants roll under Key Vault's creation limit, with no 429`, async () => {
  const policy = rolloverPolicy({ keyRolloverAfterMs: PERIOD_MS, messageTtlMs: 60_000, syncWaitMs: 5_000 });
  const keys = cloud.keyClient();
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);
  // The timer's own pacing: 80% of the software budget per window.
  const pacer = () => new CreationPacer({ limit: 16, windowMs: WINDOW_MS });

  // Enabling creates two keys per tenant: paced the same way, so the setup meets no 429 either.
  const tenants = new WritebackTenants({
    registry: new TenantRegistry(cloud.table('tenants')),
    audit: new AuditLog(cloud.table('audit')),
    serviceBus: cloud.serviceBusAdmin,
    serviceBusEndpoint: serviceBusEndpointFromSettings('ServiceBusConnection', cloud.env),
    keys,
    messageTtlMs: 60_000,
    keyProtection: 'software',
    rollover: policy,
  });
  const setup = pacer();
  const ids = Array.from({ length: TENANTS }, (_, i) => `bulk-${String(i).padStart(3, '0')}`);
  for (const id of ids) {
    await setup.take();
    await setup.take();
    await tenants.enable(id, TIMER_ACTOR);
  }
  const refusedBefore = cloud.keyVault.throttledRequests();
  assert.equal(refusedBefore, 0, 'the paced setup met no 429');

  const logged: { level: string; text: string }[] = [];
  const log = {
    log: (...args: unknown[]) => logged.push({ level: 'info', text: args.join(' ') }),
    warn: (...args: unknown[]) => logged.push({ level: 'warn', text: args.join(' ') }),
    error: (...args: unknown[]) => logged.push({ level: 'error', text: args.join(' ') }),
  };
  const rollover = keyRolloverOn(cloud, { policy, messageTtlMs: 60_000, pacer: pacer(), now });
  offsetMs = PERIOD_MS + 60_000;
  const started = performance.now();
  const summary = await rollover.run(Date.now() + 5 * 60_000, log);
  const seconds = (performance.now() - started) / 1000;
  assert.deepEqual(summary, {
    rolled: TENANTS,
    retired: 0,
    credentialsSent: TENANTS,
    deferred: 0,
    failed: 0,
  });
  assert.equal(cloud.keyVault.throttledRequests(), 0, 'no creation was refused');
  assert.deepEqual(
    logged.filter((l) => l.level !== 'info'),
    [],
  );
  // 400 creations at 16 per 500 ms take at least 12 s; the pacer, not Key Vault, set the pace.
  assert.ok(seconds >= ((2 * TENANTS) / 16 - 1) * (WINDOW_MS / 1000), `rolled in ${seconds.toFixed(1)} s`);
  console.log(
    `# ${TENANTS} tenants rolled in ${seconds.toFixed(1)} s (window ${WINDOW_MS} ms, 16 creations per window)`,
  );
});
