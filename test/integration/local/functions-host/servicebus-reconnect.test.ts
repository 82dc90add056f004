/**
 * The Service Bus trigger heals by itself: the emulator drops every connection and refuses new ones (a
 * broker outage), then listens again on the same port with its queues; the listener reconnects with
 * capped, jittered backoff and the function gets messages sent after the return, without a restart
 * of the host. The retry settings are the app's own (host.json clientRetryOptions).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { readHostJson } from '../../../../local/functions-host/config.js';
import { startFunctionsHost, type FunctionsHost } from '../../../../local/functions-host/index.js';
import { reconnectDelayMs } from '../../../../local/functions-host/servicebus-trigger.js';
import { startServiceBusEmulator, type ServiceBusEmulator } from '../../../../local/servicebus/index.js';
import { createTestApp, type TestApp } from './app-dir.js';

const QUEUE = 'fh-reconnect';
const REPOSITORY = fileURLToPath(new URL('../../../../../', import.meta.url));
const appHostJson = JSON.parse(readFileSync(path.join(REPOSITORY, 'host.json'), 'utf8')) as {
  extensions: { serviceBus: { clientRetryOptions: Record<string, unknown> } };
};
const clientRetryOptions = appHostJson.extensions.serviceBus.clientRetryOptions;

let certsDir: string;
let emulator: ServiceBusEmulator;
let app: TestApp;
let host: FunctionsHost;

/** Sends on a connection of its own: the test's sender must not wait out its own reconnection. */
async function send(messageId: string): Promise<void> {
  const client = new ServiceBusClient(emulator.connectionString);
  try {
    await client.createSender(QUEUE).sendMessages({ messageId, body: { hello: messageId } });
  } finally {
    await client.close();
  }
}

const reconnectLines = (output: string): { attempt: number; delayMs: number }[] =>
  [
    ...output.matchAll(
      /listener for 'onMessage' \(fh-reconnect\): reconnecting in (\d+) ms \(attempt (\d+)\)/g,
    ),
  ].map((m) => ({ delayMs: Number(m[1]), attempt: Number(m[2]) }));

before(async () => {
  certsDir = mkdtempSync(path.join(tmpdir(), 'fh-reconnect-certs-'));
  emulator = await startServiceBusEmulator({ amqpPort: 0, managementPort: 0, certsDir });
  const admin = new ServiceBusAdministrationClient(emulator.connectionString, {
    tlsOptions: { ca: readFileSync(emulator.caPath, 'utf8') },
  });
  await admin.createQueue(QUEUE);
  await admin.createQueue(`${QUEUE}-binary`);
  app = createTestApp({
    fixtures: ['servicebus-app'],
    hostJson: { extensions: { serviceBus: { clientRetryOptions } } },
  });
  host = await startFunctionsHost({
    appDir: app.dir,
    port: 0,
    dataDir: app.dataDir,
    env: {
      ServiceBusConnection: emulator.connectionString,
      FIXTURE_QUEUE: QUEUE,
      FIXTURE_BINARY_QUEUE: `${QUEUE}-binary`,
    },
  });
  await send('m-before');
  await host.waitForOutput((o) => o.includes('finished m-before'), 15_000);
});

after(async () => {
  await host?.stop();
  await emulator?.close();
  app?.remove();
  if (certsDir) rmSync(certsDir, { recursive: true, force: true });
});

describe('reconnect delays', () => {
  it('grow exponentially from the base, stop at the cap, and are jittered within [half, whole]', () => {
    for (let attempt = 1; attempt <= 40; attempt++) {
      const ceiling = Math.min(10_000, 200 * 2 ** (attempt - 1));
      for (let i = 0; i < 20; i++) {
        const delay = reconnectDelayMs(attempt, 200, 10_000);
        assert.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${attempt}: ${delay} ms`);
      }
    }
    const atCap = new Set(Array.from({ length: 20 }, () => reconnectDelayMs(30, 200, 10_000)));
    assert.ok(atCap.size > 1, 'listeners at the cap do not retry in step');
  });
});

describe('Service Bus trigger across a broker outage', () => {
  it('reconnects with backoff while the broker is down, and delivers within seconds of its return', async (t) => {
    const outage = await emulator.interruptAmqp();
    try {
      // Down until the listener has backed off three times.
      await host.waitForOutput((o) => reconnectLines(o).some((l) => l.attempt === 3), 15_000);
    } finally {
      await outage.resume();
    }
    const back = Date.now();
    await send('m-after');
    await host.waitForOutput((o) => o.includes('finished m-after'), 15_000);
    const recoveryMs = Date.now() - back;
    t.diagnostic(`message processed ${recoveryMs} ms after the broker came back`);

    const { retryDelayInMs, maxRetryDelayInMs } = readHostJson(app.dir).serviceBus.retryOptions;
    assert.ok(
      recoveryMs < maxRetryDelayInMs + 5000,
      `processed ${recoveryMs} ms after the broker's return, more than one capped backoff`,
    );
    const output = host.output();
    assert.match(
      output,
      /Service Bus listener for 'onMessage' \(fh-reconnect\) is receiving again, [\d.]+s after the link was lost \(\d+ reconnect attempts\)/,
    );
    for (const { attempt, delayMs } of reconnectLines(output)) {
      const ceiling = Math.min(maxRetryDelayInMs, retryDelayInMs * 2 ** (attempt - 1));
      assert.ok(delayMs >= ceiling / 2 && delayMs <= ceiling, `attempt ${attempt} waited ${delayMs} ms`);
    }
    assert.match(output, /"messageId":"m-after","deliveryCount":1/);
  });

  it('delivers again after every connection is dropped and the broker answers at once', async (t) => {
    const outage = await emulator.interruptAmqp();
    await outage.resume();
    const back = Date.now();
    await send('m-dropped');
    await host.waitForOutput((o) => o.includes('finished m-dropped'), 15_000);
    t.diagnostic(`message processed ${Date.now() - back} ms after the connections were dropped`);
  });
});
