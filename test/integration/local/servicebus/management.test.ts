/**
 * The management API through the official ServiceBusAdministrationClient: queues, runtime properties,
 * shared access rules, SAS checks on management requests, reaching it with only the AMQP connection
 * string, and the start-up Config.json.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ServiceBusAdministrationClient, isServiceBusError } from '@azure/service-bus';
import { connectionStringWith, startFixture, type Fixture } from './emulator-fixture.js';

function restErrorWith(status: number, code?: string) {
  return (error: unknown) => {
    // The SDK's RestError class may come from its own copy of core-rest-pipeline: compare by name.
    const rest = error as { name?: string; statusCode?: number; code?: string };
    assert.equal(rest.name, 'RestError', `expected a RestError, got ${String(error)}`);
    assert.equal(rest.statusCode, status);
    if (code) assert.equal(rest.code, code);
    return true;
  };
}

describe('Service Bus emulator: management API', () => {
  let fixture: Fixture;
  before(async () => {
    fixture = await startFixture();
  });
  after(async () => {
    await fixture.close();
  });

  it('creates, gets, updates, lists and deletes queues', async () => {
    const name = `writeback-${randomBytes(4).toString('hex')}`;
    const created = await fixture.admin.createQueue(name, {
      lockDuration: 'PT45S',
      maxDeliveryCount: 5,
      defaultMessageTimeToLive: 'PT5M',
      deadLetteringOnMessageExpiration: true,
      requiresDuplicateDetection: true,
      duplicateDetectionHistoryTimeWindow: 'PT2M',
      maxSizeInMegabytes: 2048,
      userMetadata: 'tenant=contoso',
    });
    assert.equal(created.name, name);
    assert.equal(created.lockDuration, 'PT45S');
    assert.equal(created.maxDeliveryCount, 5);
    assert.equal(created.defaultMessageTimeToLive, 'PT5M');
    assert.equal(created.deadLetteringOnMessageExpiration, true);
    assert.equal(created.requiresDuplicateDetection, true);
    assert.equal(created.duplicateDetectionHistoryTimeWindow, 'PT2M');
    assert.equal(created.maxSizeInMegabytes, 2048);
    assert.equal(created.userMetadata, 'tenant=contoso');
    assert.equal(created.status, 'Active');
    assert.equal(created.requiresSession, false);

    const fetched = await fixture.admin.getQueue(name);
    assert.deepEqual(
      { ...fetched, authorizationRules: undefined },
      { ...created, authorizationRules: undefined },
    );
    assert.equal(await fixture.admin.queueExists(name), true);
    assert.equal(await fixture.admin.queueExists('missing-queue'), false);

    const updated = await fixture.admin.updateQueue({
      ...fetched,
      maxDeliveryCount: 7,
      lockDuration: 'PT1M',
    });
    assert.equal(updated.maxDeliveryCount, 7);
    assert.equal(updated.lockDuration, 'PT1M');

    const names: string[] = [];
    for await (const queue of fixture.admin.listQueues()) names.push(queue.name);
    assert.ok(names.includes(name));
    const pages = fixture.admin.listQueues().byPage({ maxPageSize: 1 });
    const firstPage = (await pages.next()).value as unknown[];
    assert.equal(firstPage.length, 1);

    await fixture.admin.deleteQueue(name);
    await assert.rejects(fixture.admin.getQueue(name), restErrorWith(404, 'MessageEntityNotFoundError'));
    await assert.rejects(fixture.admin.deleteQueue(name), restErrorWith(404, 'MessageEntityNotFoundError'));
  });

  it('refuses a duplicate queue, invalid properties and updates of immutable ones', async () => {
    const name = await fixture.queue();
    await assert.rejects(
      fixture.admin.createQueue(name),
      restErrorWith(409, 'MessageEntityAlreadyExistsError'),
    );
    await assert.rejects(fixture.admin.createQueue('bad', { lockDuration: 'PT10M' }), restErrorWith(400));
    await assert.rejects(
      fixture.admin.createQueue('bad', { lockDuration: 'ten seconds' }),
      restErrorWith(400),
    );
    await assert.rejects(fixture.admin.createQueue('bad', { status: 'Paused' as never }), restErrorWith(400));
    await assert.rejects(fixture.admin.createQueue('$bad'), restErrorWith(400));
    await assert.rejects(fixture.admin.createQueue('bad', { forwardTo: 'nowhere' }), restErrorWith(400));
    const description = await fixture.admin.getQueue(name);
    await assert.rejects(
      fixture.admin.updateQueue({ ...description, requiresSession: true }),
      restErrorWith(400),
    );
    await assert.rejects(
      fixture.admin.updateQueue({ ...description, name: 'not-there' }),
      restErrorWith(404),
    );
  });

  it('reports runtime properties: active, dead-lettered and scheduled counts and size', async () => {
    const name = await fixture.queue();
    const sender = fixture.client.createSender(name);
    await sender.sendMessages([{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
    await sender.scheduleMessages({ body: 'later' }, new Date(Date.now() + 60_000));
    const receiver = fixture.client.createReceiver(name);
    const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    await receiver.deadLetterMessage(first!);
    await receiver.close();
    const props = await fixture.admin.getQueueRuntimeProperties(name);
    assert.equal(props.name, name);
    assert.equal(props.activeMessageCount, 2);
    assert.equal(props.deadLetterMessageCount, 1);
    assert.equal(props.scheduledMessageCount, 1);
    assert.equal(props.totalMessageCount, 4);
    assert.ok((props.sizeInBytes ?? 0) > 0);
    assert.ok(props.createdAt instanceof Date && props.accessedAt instanceof Date);
    const all: string[] = [];
    for await (const runtime of fixture.admin.listQueuesRuntimeProperties()) all.push(runtime.name);
    assert.ok(all.includes(name));
  });

  it('keeps shared access rules on queues; the pipeline provisions Listen-only and Send-only rules', async () => {
    const listenKey = randomBytes(32).toString('base64');
    const name = await fixture.queue({
      authorizationRules: [
        {
          claimType: 'SharedAccessKey',
          keyName: 'agent-listen',
          accessRights: ['Listen'],
          primaryKey: listenKey,
        },
      ],
    });
    const queue = await fixture.admin.getQueue(name);
    const [rule] = queue.authorizationRules ?? [];
    assert.equal(rule?.keyName, 'agent-listen');
    assert.deepEqual(rule?.accessRights, ['Listen']);
    assert.equal(rule?.primaryKey, listenKey, 'the key it was given');
    assert.equal(rule?.secondaryKey, undefined, 'none was given, none is made up');
    const sendKey = randomBytes(32).toString('base64');
    const updated = await fixture.admin.updateQueue({
      ...queue,
      authorizationRules: [
        ...(queue.authorizationRules ?? []),
        { claimType: 'SharedAccessKey', keyName: 'agent-send', accessRights: ['Send'], primaryKey: sendKey },
      ],
    });
    assert.deepEqual(
      updated.authorizationRules?.map((r) => r.keyName),
      ['agent-listen', 'agent-send'],
    );
    const agent = fixture.clientFor(
      connectionStringWith(fixture.emulator, 'agent-listen', rule!.primaryKey!),
    );
    const sendOnly = fixture.clientFor(connectionStringWith(fixture.emulator, 'agent-send', sendKey));
    await sendOnly.createSender(name).sendMessages({ body: 'via the queue rule' });
    const [message] = await agent
      .createReceiver(name, { receiveMode: 'receiveAndDelete' })
      .receiveMessages(1, { maxWaitTimeInMs: 2000 });
    assert.equal(message?.body, 'via the queue rule');
    await assert.rejects(
      fixture.admin.createQueue('bad-rule', {
        authorizationRules: [{ claimType: 'SharedAccessKey', keyName: 'x', accessRights: ['Manage'] }],
      }),
      restErrorWith(400),
    );
  });

  it('checks the SAS token of management requests', async () => {
    const options = { tlsOptions: { ca: fixture.caPem } };
    const wrongKey = new ServiceBusAdministrationClient(
      connectionStringWith(fixture.emulator, 'RootManageSharedAccessKey', 'wrong'),
      options,
    );
    await assert.rejects(wrongKey.getQueue('anything'), restErrorWith(401, 'UnauthorizedRequestError'));
    const name = await fixture.queue({
      authorizationRules: [
        {
          claimType: 'SharedAccessKey',
          keyName: 'listen',
          accessRights: ['Listen'],
          primaryKey: 'k'.repeat(44),
        },
      ],
    });
    const listenOnly = new ServiceBusAdministrationClient(
      connectionStringWith(fixture.emulator, 'listen', 'k'.repeat(44)),
      options,
    );
    await assert.rejects(listenOnly.getQueue(name), restErrorWith(401));
    await assert.rejects(listenOnly.createQueue(`${name}-x`), restErrorWith(401));
  });

  it('answers on its own HTTPS port too, and a process trusting the CA through NODE_EXTRA_CA_CERTS needs only the connection string', async () => {
    const dedicated = new ServiceBusAdministrationClient(fixture.emulator.managementConnectionString, {
      tlsOptions: { ca: fixture.caPem },
    });
    const name = await fixture.queue();
    assert.equal((await dedicated.getQueue(name)).name, name);

    const script = [
      "const { ServiceBusAdministrationClient } = require('@azure/service-bus');",
      'new ServiceBusAdministrationClient(process.env.CS).getQueue(process.env.Q)',
      '.then((q) => console.log(q.name), (e) => { console.error(e.message); process.exit(1); });',
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], {
      cwd: process.cwd(),
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: fixture.emulator.caPath,
        CS: fixture.emulator.connectionString,
        Q: name,
      },
    });
    assert.equal(stdout.trim(), name);
  });

  it('deleting a queue detaches its receivers with MessagingEntityNotFound', async () => {
    const name = await fixture.queue();
    const receiver = fixture.client.createReceiver(name);
    const waiting = receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await fixture.admin.deleteQueue(name);
    await assert.rejects(waiting, (error: unknown) => {
      assert.ok(isServiceBusError(error));
      assert.equal(error.code, 'MessagingEntityNotFound');
      return true;
    });
    await receiver.close();
  });
});

describe('Service Bus emulator: Config.json at start', () => {
  it('creates the queues of a Microsoft-emulator Config.json with their properties', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'sb-config-'));
    const configFile = join(dir, 'Config.json');
    await writeFile(
      configFile,
      JSON.stringify({
        UserConfig: {
          Namespaces: [
            {
              Name: 'sbemulatorns',
              Queues: [
                {
                  Name: 'queue.1',
                  Properties: {
                    DeadLetteringOnMessageExpiration: false,
                    DefaultMessageTimeToLive: 'PT1H',
                    DuplicateDetectionHistoryTimeWindow: 'PT20S',
                    ForwardDeadLetteredMessagesTo: '',
                    ForwardTo: '',
                    LockDuration: 'PT1M',
                    MaxDeliveryCount: 3,
                    RequiresDuplicateDetection: false,
                    RequiresSession: false,
                  },
                },
                {
                  Name: 'forwarder',
                  Properties: { ForwardTo: 'sessions', DeadLetteringOnMessageExpiration: true },
                },
                { Name: 'sessions', Properties: { RequiresSession: true, LockDuration: 'PT30S' } },
              ],
              Topics: [{ Name: 'topic.1' }],
            },
          ],
          Logging: { Type: 'File' },
        },
      }),
    );
    const fixture = await startFixture({ configFile });
    try {
      assert.deepEqual(fixture.emulator.warnings, ['topics are not emulated; ignored 1 topic(s)']);
      const queue = await fixture.admin.getQueue('queue.1');
      assert.equal(queue.maxDeliveryCount, 3);
      assert.equal(queue.defaultMessageTimeToLive, 'PT1H');
      assert.equal(queue.duplicateDetectionHistoryTimeWindow, 'PT20S');
      assert.equal(queue.forwardTo, undefined);
      assert.equal((await fixture.admin.getQueue('sessions')).requiresSession, true);
      assert.match((await fixture.admin.getQueue('forwarder')).forwardTo ?? '', /\/sessions$/);
      await fixture.client.createSender('queue.1').sendMessages({ body: 'configured' });
      const [message] = await fixture.client
        .createReceiver('queue.1', { receiveMode: 'receiveAndDelete' })
        .receiveMessages(1, { maxWaitTimeInMs: 2000 });
      assert.equal(message?.body, 'configured');
    } finally {
      await fixture.close();
    }

    await writeFile(
      configFile,
      JSON.stringify({
        UserConfig: {
          Namespaces: [{ Name: 'x', Queues: [{ Name: 'q', Properties: { LockDuration: 'soon' } }] }],
        },
      }),
    );
    await assert.rejects(startFixture({ configFile }), /LockDuration/);
    await writeFile(configFile, '{ not json');
    await assert.rejects(startFixture({ configFile }), /not valid JSON/);
    await rm(dir, { recursive: true, force: true });
  });
});
