/**
 * Key rollover under load, on `npm start`'s stack: keys roll every two minutes (KEY_ROLLOVER_AFTER=PT2M,
 * the timer every 15 s) while resets run without pause. Reports how many resets failed (the goal is
 * none), how many versions of each key and how many SAS rollovers the run saw through
 * GET …/writeback, and the reset latency. Not part of the default `npm run bench`: it runs for minutes.
 *
 *   npm run bench -- rollover            (or: node dist/bench/rollover.js [--minutes 5] [--in-flight 2])
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openOfflineMinter } from '../local/identity/index.js';
import { startStack, summary, UNLIMITED_RATES, untilOnline } from './local-stack.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    'in-flight': { type: 'string', default: '2' },
  },
});
const runMs = Number(values.minutes) * 60_000;
const inFlight = Number(values['in-flight']);
const TENANT = 'contoso';
const USERS = ['alice', 'bob', 'admin'].map((name) => `${name}@contoso.test`);

interface WritebackView {
  keys?: { encryption: { keyId: string; replaced: unknown[] }; signature: { keyId: string }; state: string };
  agentCredentials?: { rolledAt?: string; state: string };
}

async function main(): Promise<void> {
  const stack = await startStack({
    ...UNLIMITED_RATES,
    KEY_ROLLOVER_AFTER: 'PT2M',
    KEY_ROLLOVER_SCHEDULE: '*/15 * * * * *',
  });
  try {
    const minter = await openOfflineMinter({
      dataDir: path.join(stack.dataDir, 'identity'),
      issuerBaseUrl: stack.identityUrl,
    });
    const tokens = new Map<string, string>();
    for (const user of USERS) {
      tokens.set(user, await minter.mintToken({ tenant: TENANT, upn: user, lifetimeSeconds: 7200 }));
    }
    const adminToken = await minter.mintToken({
      tenant: TENANT,
      upn: 'admin@contoso.test',
      roles: ['Writeback.Admin'],
      lifetimeSeconds: 7200,
    });
    const get = async (route: string, token: string) => {
      const response = await fetch(`${stack.api}/tenants/${TENANT}/${route}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return (await response.json()) as Record<string, unknown>;
    };
    await untilOnline(stack, TENANT, adminToken);

    const encryption = new Set<string>();
    const signature = new Set<string>();
    const sasRolls = new Set<string>();
    let maxInGrace = 0;
    const states = new Set<string>();
    const observe = async () => {
      const view = (await get('writeback', adminToken)) as WritebackView;
      if (view.keys) {
        encryption.add(view.keys.encryption.keyId);
        signature.add(view.keys.signature.keyId);
        maxInGrace = Math.max(maxInGrace, view.keys.encryption.replaced.length);
        states.add(`keys:${view.keys.state}`);
      }
      if (view.agentCredentials?.rolledAt) sasRolls.add(view.agentCredentials.rolledAt);
      if (view.agentCredentials) states.add(`agentCredentials:${view.agentCredentials.state}`);
    };
    await observe();

    const latencies: number[] = [];
    const byStatus: Record<string, number> = {};
    let counter = 0;
    const end = Date.now() + runMs;
    const worker = async (index: number) => {
      const user = USERS[index % USERS.length]!;
      while (Date.now() < end) {
        const started = performance.now();
        const response = await fetch(`${stack.api}/tenants/${TENANT}/me/password/reset`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tokens.get(user)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ newPassword: `Rollover-Passw0rd-${process.pid}-${++counter}` }),
        });
        await response.arrayBuffer();
        latencies.push(performance.now() - started);
        byStatus[response.status] = (byStatus[response.status] ?? 0) + 1;
      }
    };
    const watcher = (async () => {
      while (Date.now() < end) {
        await new Promise((resolve) => setTimeout(resolve, 5_000));
        await observe();
      }
    })();
    await Promise.all([...Array.from({ length: inFlight }, (_, i) => worker(i)), watcher]);
    await observe();

    const resets = latencies.length;
    console.log(
      JSON.stringify({
        minutes: runMs / 60_000,
        resets,
        failed: resets - (byStatus['200'] ?? 0),
        byStatus,
        resetMs: summary(latencies),
        encryptionVersionsSeen: encryption.size,
        signatureVersionsSeen: signature.size,
        sasRollovers: sasRolls.size,
        mostVersionsInGrace: maxInGrace,
        statesSeen: [...states].sort(),
      }),
    );
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
