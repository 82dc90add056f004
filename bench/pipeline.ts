/**
 * End-to-end benchmark of the pipeline, on `npm start`'s stack as a user meets it (every service in
 * its own process: Azurite, identity provider, both emulators, the Functions host and the demo agent
 * with its in-memory directory): HTTP → seal → Service Bus → agent (Key Vault unwrap + decrypt,
 * directory, Key Vault sign) → replies function → the waiting HTTP call.
 *
 *   node dist/bench/pipeline.js [--sequential N] [--concurrent N] [--in-flight C]
 *
 * Measures the latency of self-service reset, change and unlock one at a time (p50/p95/p99), and the
 * throughput of resets with C in flight. Rate limits are raised for the run: the benchmark is one user
 * resetting many times. Prints one JSON summary line last.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openOfflineMinter } from '../local/identity/index.js';
import { startStack, summary, UNLIMITED_RATES, untilOnline } from './local-stack.js';

const { values } = parseArgs({
  options: {
    sequential: { type: 'string', default: '100' },
    concurrent: { type: 'string', default: '300' },
    // Two per usable demo user: more makes one user's requests race for its rate-limit row.
    'in-flight': { type: 'string', default: '6' },
  },
});
const sequential = Number(values.sequential);
const concurrent = Number(values.concurrent);
const inFlight = Number(values['in-flight']);

const TENANT = 'contoso';
const USERS = ['alice', 'bob', 'admin'].map((name) => `${name}@contoso.test`);

async function main(): Promise<void> {
  const stack = await startStack(UNLIMITED_RATES);
  try {
    const minter = await openOfflineMinter({
      dataDir: path.join(stack.dataDir, 'identity'),
      issuerBaseUrl: stack.identityUrl,
    });
    const tokens = new Map<string, string>();
    for (const user of USERS)
      tokens.set(user, await minter.mintToken({ tenant: TENANT, upn: user, lifetimeSeconds: 3600 }));
    const tokenOf = (user: string) => tokens.get(user) ?? '';

    let counter = 0;
    const passwordOf = () => `Bench-Passw0rd-${process.pid}-${++counter}`;
    const current = new Map<string, string>();
    const post = async (
      user: string,
      route: string,
      body?: unknown,
    ): Promise<{ status: number; ms: number }> => {
      const started = performance.now();
      const response = await fetch(`${stack.api}/tenants/${TENANT}/${route}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tokenOf(user)}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      await response.arrayBuffer();
      return { status: response.status, ms: performance.now() - started };
    };
    let contention = 0;
    const reset = async (user: string): Promise<number> => {
      const newPassword = passwordOf();
      const answer = await post(user, 'me/password/reset', { newPassword });
      if (answer.status === 429) {
        // Simultaneous operations of one user lost the race for its rate-limit row: retry as told.
        contention++;
        await new Promise((resolve) => setTimeout(resolve, 1000));
        return answer.ms + (await reset(user));
      }
      if (answer.status !== 200) throw new Error(`reset answered ${answer.status}`);
      current.set(user, newPassword);
      return answer.ms;
    };

    // Online: the demo agent's first heartbeat has reached the replies function.
    await untilOnline(stack, TENANT, tokenOf(USERS[0] ?? ''));
    // Warm-up: first key fetch, first links, JIT.
    for (let i = 0; i < 10; i++) await reset(USERS[i % USERS.length] ?? '');

    const resets: number[] = [];
    for (let i = 0; i < sequential; i++) resets.push(await reset('alice@contoso.test'));
    const changes: number[] = [];
    for (let i = 0; i < Math.max(10, sequential / 5); i++) {
      const user = 'bob@contoso.test';
      const newPassword = passwordOf();
      const answer = await post(user, 'me/password/change', {
        currentPassword: current.get(user),
        newPassword,
      });
      if (answer.status !== 200) throw new Error(`change answered ${answer.status}`);
      current.set(user, newPassword);
      changes.push(answer.ms);
    }
    const unlocks: number[] = [];
    for (let i = 0; i < Math.max(10, sequential / 5); i++) {
      const answer = await post('admin@contoso.test', 'me/unlock');
      if (answer.status !== 200) throw new Error(`unlock answered ${answer.status}`);
      unlocks.push(answer.ms);
    }

    // Throughput: C in flight, spread over the users (the in-memory directory serialises per user).
    let started = 0;
    const concurrentLatencies: number[] = [];
    const begin = performance.now();
    const worker = async (): Promise<void> => {
      while (started < concurrent) {
        const user = USERS[started++ % USERS.length] ?? '';
        concurrentLatencies.push(await reset(user));
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const seconds = (performance.now() - begin) / 1000;

    console.log(
      JSON.stringify({
        resetMs: summary(resets),
        changeMs: summary(changes),
        unlockMs: summary(unlocks),
        concurrentResets: {
          inFlight,
          count: concurrent,
          perSecond: Math.round(concurrent / seconds),
          rateLimitedRetries: contention,
          latencyMs: summary(concurrentLatencies),
        },
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
