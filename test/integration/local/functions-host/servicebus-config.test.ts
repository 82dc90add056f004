/**
 * Service Bus triggers without a broker: what the host hands the library for a received message, and a
 * trigger whose connection is not configured. Delivery itself is tested against the Service Bus
 * emulator (servicebus.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceBusReceivedMessage } from '@azure/service-bus';
import { startFunctionsHost } from '../../../../local/functions-host/index.js';
import { messageBody, messageTriggerMetadata } from '../../../../local/functions-host/servicebus-trigger.js';
import { createTestApp } from './app-dir.js';

function received(overrides: Partial<ServiceBusReceivedMessage>): ServiceBusReceivedMessage {
  return {
    body: Buffer.from('{"hello":"world"}'),
    messageId: 'm-1',
    deliveryCount: 0,
    enqueuedTimeUtc: new Date('2026-01-01T00:00:00Z'),
    expiresAtUtc: new Date('2026-01-01T00:05:00Z'),
    lockToken: '6f0c1b2a-0000-4000-8000-000000000001',
    state: 'active',
    ...overrides,
  } as ServiceBusReceivedMessage;
}

describe('Service Bus message conversion', () => {
  it('hands the body over as a string, or as bytes with dataType binary', () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    assert.deepEqual(messageBody(received({}), false), { string: '{"hello":"world"}' });
    assert.deepEqual(messageBody(received({ body: bytes }), true), { bytes });
    assert.deepEqual(messageBody(received({ body: 'plain text' }), false), { string: 'plain text' });
  });

  it('names trigger metadata like the extension and counts deliveries from 1', () => {
    const meta = messageTriggerMetadata(
      received({
        correlationId: 'c-1',
        subject: 'reset',
        contentType: 'application/json',
        applicationProperties: { tenant: 'contoso' },
      }),
      'onMessage',
    );
    assert.deepEqual(meta.MessageId, { string: 'm-1' });
    assert.deepEqual(meta.DeliveryCount, { int: 1 });
    assert.deepEqual(meta.EnqueuedTimeUtc, { json: '"2026-01-01T00:00:00.000Z"' });
    assert.deepEqual(meta.ExpiresAtUtc, { json: '"2026-01-01T00:05:00.000Z"' });
    assert.deepEqual(meta.CorrelationId, { string: 'c-1' });
    assert.deepEqual(meta.Subject, { string: 'reset' });
    assert.deepEqual(meta.Label, { string: 'reset' });
    assert.deepEqual(meta.ContentType, { string: 'application/json' });
    assert.deepEqual(meta.ApplicationProperties, { json: '{"tenant":"contoso"}' });
    assert.deepEqual(meta.UserProperties, { json: '{"tenant":"contoso"}' });
    assert.deepEqual(meta.LockToken, { string: '6f0c1b2a-0000-4000-8000-000000000001' });
  });
});

describe('Service Bus trigger configuration', () => {
  it('puts a trigger whose connection is not set in error and still serves the other functions', async () => {
    const app = createTestApp({ fixtures: ['servicebus-app', 'second-file'] });
    const host = await startFunctionsHost({
      appDir: app.dir,
      port: 0,
      dataDir: app.dataDir,
      env: { FIXTURE_QUEUE: 'orders', FIXTURE_BINARY_QUEUE: 'blobs' },
    });
    try {
      const onMessage = host.functions.find((f) => f.name === 'onMessage');
      assert.equal(onMessage?.trigger, 'error');
      assert.match(
        host.output(),
        /The 'onMessage' function is in error: .*connection 'ServiceBusConnection' is not set/,
      );
      assert.equal((await fetch(`${host.url}/api/second`)).status, 200);
    } finally {
      await host.stop();
      app.remove();
    }
  });

  it('resolves the queue name from a %Setting% and reports it', async () => {
    const app = createTestApp({ fixtures: ['servicebus-app'] });
    const host = await startFunctionsHost({
      appDir: app.dir,
      port: 0,
      dataDir: app.dataDir,
      env: {
        FIXTURE_QUEUE: 'orders',
        FIXTURE_BINARY_QUEUE: 'blobs',
        // Nothing listens here; the listener keeps retrying in the background, which is what the real
        // host does when the namespace is unreachable.
        ServiceBusConnection:
          'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=a2V5;UseDevelopmentEmulator=true',
      },
    });
    try {
      assert.deepEqual(
        host.functions.find((f) => f.name === 'onMessage'),
        { name: 'onMessage', trigger: 'serviceBus', entity: 'orders', connection: 'ServiceBusConnection' },
      );
    } finally {
      await host.stop();
      app.remove();
    }
  });
});
