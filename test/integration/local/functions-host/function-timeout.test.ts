/**
 * host.json functionTimeout, shortened for the test through the app setting that overrides host.json
 * in Azure (AzureFunctionsJobHost__functionTimeout): an invocation past it is abandoned and logged as
 * timed out; an HTTP caller gets 500 with a problem, a Service Bus message is abandoned (so the broker
 * delivers it again), and a timer's schedule goes on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { readHostJson } from '../../../../local/functions-host/config.js';
import { startFunctionsHost, type FunctionsHost } from '../../../../local/functions-host/index.js';
import { startServiceBusEmulator, type ServiceBusEmulator } from '../../../../local/servicebus/index.js';
import { createTestApp, type TestApp } from './app-dir.js';

const ONE_SECOND = { AzureFunctionsJobHost__functionTimeout: '00:00:01' };

const count = (text: string, pattern: RegExp): number => text.match(new RegExp(pattern, 'g'))?.length ?? 0;

describe('reading functionTimeout', () => {
  const app = createTestApp({ fixtures: [], hostJson: { functionTimeout: '00:10:00' } });
  after(() => app.remove());

  it('takes host.json, and the AzureFunctionsJobHost__ setting over it (keys in any case)', () => {
    assert.equal(readHostJson(app.dir, {}).functionTimeoutMs, 600_000);
    assert.equal(readHostJson(app.dir, ONE_SECOND).functionTimeoutMs, 1000);
    assert.equal(
      readHostJson(app.dir, { azurefunctionsjobhost__FUNCTIONTIMEOUT: '00:00:02.500' }).functionTimeoutMs,
      2500,
    );
    assert.equal(
      readHostJson(app.dir, { AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentCalls: '4' })
        .serviceBus.maxConcurrentCalls,
      4,
    );
  });

  it('defaults to 30 minutes, and -1 means no limit, as the real host outside Consumption', () => {
    const bare = createTestApp({ fixtures: [] });
    try {
      assert.equal(readHostJson(bare.dir, {}).functionTimeoutMs, 30 * 60_000);
      assert.equal(
        readHostJson(bare.dir, { AzureFunctionsJobHost__functionTimeout: '-1' }).functionTimeoutMs,
        undefined,
      );
    } finally {
      bare.remove();
    }
  });

  it('refuses less than a second or a malformed value, naming where it came from', () => {
    assert.throws(
      () => readHostJson(app.dir, { AzureFunctionsJobHost__functionTimeout: '00:00:00.500' }),
      /AzureFunctionsJobHost__functionTimeout must be a TimeSpan "hh:mm:ss" of at least 00:00:01, or -1/,
    );
    const bad = createTestApp({ fixtures: [], hostJson: { functionTimeout: '10 minutes' } });
    try {
      assert.throws(() => readHostJson(bad.dir, {}), /host\.json: functionTimeout must be a TimeSpan/);
    } finally {
      bad.remove();
    }
  });
});

describe('an HTTP function past functionTimeout', () => {
  let app: TestApp;
  let host: FunctionsHost;

  before(async () => {
    app = createTestApp({ fixtures: ['http-app'] });
    host = await startFunctionsHost({ appDir: app.dir, port: 0, dataDir: app.dataDir, env: ONE_SECOND });
  });

  after(async () => {
    await host?.stop();
    app?.remove();
  });

  it('answers 500 with a problem naming the limit and the invocation, once the limit has passed', async () => {
    const started = Date.now();
    const res = await fetch(`${host.url}/api/slow/2500`);
    const elapsed = Date.now() - started;
    assert.equal(res.status, 500);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const problem = (await res.json()) as { code: string; status: number; detail: string };
    assert.equal(problem.code, 'InternalError');
    assert.equal(problem.status, 500);
    const match =
      /^The function 'slow' did not finish within functionTimeout \(00:00:01\) and was abandoned\. Quote reference ([0-9a-f-]{36})\.$/.exec(
        problem.detail,
      );
    assert.ok(match, problem.detail);
    assert.ok(elapsed >= 1000 && elapsed < 2400, `answered after ${elapsed} ms, not at the 1 s limit`);

    const id = match[1] as string;
    const output = host.output();
    assert.match(
      output,
      new RegExp(`Timeout value of 00:00:01 exceeded by function 'Functions\\.slow' \\(Id: '${id}'\\)`),
    );
    assert.match(output, new RegExp(`Executed 'Functions\\.slow' \\(Failed, Id=${id}, Duration=\\d+ms\\)`));
    assert.match(
      output,
      new RegExp(`A function timeout has occurred\\..*invocation ${id} goes on unawaited`),
    );

    // The host still serves while the abandoned invocation runs, and says when that one ends.
    assert.deepEqual(await (await fetch(`${host.url}/api/items/3`)).json(), { params: { id: '3' } });
    await host.waitForOutput(
      (o) => o.includes(`Invocation ${id} of 'Functions.slow', abandoned at its timeout, ended after`),
      5000,
    );
  });

  it('lets a function that finishes in time answer as usual', async () => {
    const res = await fetch(`${host.url}/api/slow/100`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { slept: 100 });
  });
});

describe('a timer function past functionTimeout', () => {
  it('is abandoned and logged, and the next occurrence still runs', async () => {
    const app = createTestApp({ fixtures: ['timer-slow'] });
    const host = await startFunctionsHost({
      appDir: app.dir,
      port: 0,
      dataDir: app.dataDir,
      env: { ...ONE_SECOND, SLOW_TIMER_MS: '60000' },
    });
    try {
      // Each run hangs for a minute; without the timeout the second would wait for the first.
      const output = await host.waitForOutput(
        (o) => count(o, /Timeout value of 00:00:01 exceeded by function 'Functions\.slowTimer'/) >= 2,
        8000,
      );
      assert.ok(count(output, /Executed 'Functions\.slowTimer' \(Failed/) >= 2);
      assert.ok(count(output, /\[slowTimer\] slowTimer started/) >= 2);
      assert.doesNotMatch(output, /slowTimer finished/);
    } finally {
      await host.stop();
      app.remove();
    }
  });
});

describe('a Service Bus function past functionTimeout', () => {
  const QUEUE = 'fh-timeout';
  let certsDir: string;
  let emulator: ServiceBusEmulator;
  let client: ServiceBusClient;
  let app: TestApp;
  let host: FunctionsHost;

  before(async () => {
    certsDir = mkdtempSync(path.join(tmpdir(), 'fh-timeout-certs-'));
    emulator = await startServiceBusEmulator({ amqpPort: 0, managementPort: 0, certsDir });
    const admin = new ServiceBusAdministrationClient(emulator.connectionString, {
      tlsOptions: { ca: readFileSync(emulator.caPath, 'utf8') },
    });
    // A lock longer than the test: only an abandon can bring the message back this soon.
    await admin.createQueue(QUEUE, { lockDuration: 'PT1M', maxDeliveryCount: 2 });
    await admin.createQueue(`${QUEUE}-binary`);
    client = new ServiceBusClient(emulator.connectionString);
    app = createTestApp({ fixtures: ['servicebus-app'] });
    host = await startFunctionsHost({
      appDir: app.dir,
      port: 0,
      dataDir: app.dataDir,
      env: {
        ...ONE_SECOND,
        ServiceBusConnection: emulator.connectionString,
        FIXTURE_QUEUE: QUEUE,
        FIXTURE_BINARY_QUEUE: `${QUEUE}-binary`,
      },
    });
  });

  after(async () => {
    await host?.stop();
    await client?.close();
    await emulator?.close();
    app?.remove();
    if (certsDir) rmSync(certsDir, { recursive: true, force: true });
  });

  it('abandons the message at the timeout, so the broker delivers it again (then dead-letters it)', async () => {
    const sender = client.createSender(QUEUE);
    await sender.sendMessages({ messageId: 'm-hang', body: { sleepMs: 30_000 } });
    await sender.close();

    const dlq = client.createReceiver(QUEUE, { subQueueType: 'deadLetter' });
    try {
      const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 15_000 });
      assert.ok(dead, `the message was dead-lettered. Host output:\n${host.output()}`);
      assert.equal(dead.messageId, 'm-hang');
      assert.equal(dead.deadLetterReason, 'MaxDeliveryCountExceeded');
      await dlq.completeMessage(dead);
    } finally {
      await dlq.close();
    }
    const output = host.output();
    assert.equal(count(output, /Timeout value of 00:00:01 exceeded by function 'Functions\.onMessage'/), 2);
    assert.match(output, /"messageId":"m-hang","deliveryCount":1/);
    assert.match(output, /"messageId":"m-hang","deliveryCount":2/);
    assert.doesNotMatch(output, /Could not abandon message m-hang/);
  });
});
