/**
 * Rolling a queue rule's keys through the official SDK, as the key rollover does it: both keys of a rule
 * work; `updateQueue` with a new key refuses the old one to new connections while the other key keeps
 * working; keys echoed back are kept and keys are never made up; a link already open with the old key
 * lives on until its token expires (a new put-token with the old key fails at once), and is then
 * force-detached and cannot come back.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  isServiceBusError,
  type AuthorizationRule,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
} from '@azure/service-bus';
import { signSasToken } from '../../../../local/servicebus/auth/sas.js';
import { connectionStringWith, delay, startFixture, type Fixture } from './emulator-fixture.js';

const newKey = () => randomBytes(32).toString('base64');

function unauthorized(error: unknown): boolean {
  assert.ok(isServiceBusError(error), `expected a ServiceBusError, got ${String(error)}`);
  assert.equal(error.code, 'UnauthorizedAccess');
  return true;
}

function restError(status: number) {
  return (error: unknown) => {
    const rest = error as { name?: string; statusCode?: number };
    assert.equal(rest.name, 'RestError', `expected a RestError, got ${String(error)}`);
    assert.equal(rest.statusCode, status);
    return true;
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(50);
  }
}

describe('Service Bus emulator: rolling the keys of a queue rule', () => {
  let fixture: Fixture;

  before(async () => {
    fixture = await startFixture();
  });
  after(async () => {
    await fixture.close();
  });

  /** A queue with the agent's two rules, each with both keys. */
  async function agentQueue(): Promise<{ name: string; listen: AuthorizationRule; send: AuthorizationRule }> {
    const listen: AuthorizationRule = {
      claimType: 'SharedAccessKey',
      keyName: 'agent-listen',
      accessRights: ['Listen'],
      primaryKey: newKey(),
      secondaryKey: newKey(),
    };
    const send: AuthorizationRule = {
      claimType: 'SharedAccessKey',
      keyName: 'agent-send',
      accessRights: ['Send'],
      primaryKey: newKey(),
      secondaryKey: newKey(),
    };
    const name = await fixture.queue({ authorizationRules: [listen, send] }, 'rollover');
    return { name, listen, send };
  }

  /** Replace one rule's keys through getQueue + updateQueue, echoing everything else back. */
  async function setKeys(queue: string, keyName: string, keys: Partial<AuthorizationRule>) {
    const current = await fixture.admin.getQueue(queue);
    return fixture.admin.updateQueue({
      ...current,
      authorizationRules: (current.authorizationRules ?? []).map((rule) =>
        rule.keyName === keyName ? { ...rule, ...keys } : rule,
      ),
    });
  }

  function ruleOf(rules: AuthorizationRule[] | undefined, keyName: string): AuthorizationRule | undefined {
    return rules?.find((rule) => rule.keyName === keyName);
  }

  async function receiveOne(receiver: ServiceBusReceiver): Promise<unknown> {
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    return message?.body;
  }

  it('accepts connection strings with either key of a rule', async () => {
    const { name, listen, send } = await agentQueue();
    for (const [sendKey, listenKey] of [
      [send.primaryKey!, listen.primaryKey!],
      [send.secondaryKey!, listen.secondaryKey!],
    ] as const) {
      const sender = fixture.clientFor(connectionStringWith(fixture.emulator, 'agent-send', sendKey));
      const listener = fixture.clientFor(connectionStringWith(fixture.emulator, 'agent-listen', listenKey));
      await sender.createSender(name).sendMessages({ body: `via ${sendKey.slice(0, 6)}` });
      const receiver = listener.createReceiver(name, { receiveMode: 'receiveAndDelete' });
      assert.equal(await receiveOne(receiver), `via ${sendKey.slice(0, 6)}`);
      await receiver.close();
    }
  });

  it('after updateQueue changes a key, a new client with the old key is refused and the other key keeps working', async () => {
    const { name, listen, send } = await agentQueue();
    const replacement = newKey();
    const updated = await setKeys(name, 'agent-listen', { primaryKey: replacement });
    assert.equal(ruleOf(updated.authorizationRules, 'agent-listen')?.primaryKey, replacement);
    assert.equal(ruleOf(updated.authorizationRules, 'agent-listen')?.secondaryKey, listen.secondaryKey);
    const read = await fixture.admin.getQueue(name);
    assert.deepEqual(
      ruleOf(read.authorizationRules, 'agent-send'),
      ruleOf(updated.authorizationRules, 'agent-send'),
    );
    assert.equal(
      ruleOf(read.authorizationRules, 'agent-send')?.primaryKey,
      send.primaryKey,
      'untouched rule kept',
    );

    await fixture.client.createSender(name).sendMessages([{ body: 'one' }, { body: 'two' }]);
    const old = fixture.clientFor(connectionStringWith(fixture.emulator, 'agent-listen', listen.primaryKey!));
    const refused = old.createReceiver(name, { receiveMode: 'receiveAndDelete' });
    await assert.rejects(refused.receiveMessages(1, { maxWaitTimeInMs: 1000 }), unauthorized);
    await assert.rejects(refused.peekMessages(1), unauthorized);

    const secondary = fixture.clientFor(
      connectionStringWith(fixture.emulator, 'agent-listen', listen.secondaryKey!),
    );
    const viaSecondary = secondary.createReceiver(name, { receiveMode: 'receiveAndDelete' });
    assert.equal(await receiveOne(viaSecondary), 'one');
    await viaSecondary.close();
    const fresh = fixture.clientFor(connectionStringWith(fixture.emulator, 'agent-listen', replacement));
    const viaNew = fresh.createReceiver(name, { receiveMode: 'receiveAndDelete' });
    assert.equal(await receiveOne(viaNew), 'two');
    await viaNew.close();

    // Then the other key rolls too: the old secondary is refused, the new pair works.
    const second = newKey();
    await setKeys(name, 'agent-listen', { secondaryKey: second });
    const oldSecondary = fixture.clientFor(
      connectionStringWith(fixture.emulator, 'agent-listen', listen.secondaryKey!),
    );
    await assert.rejects(oldSecondary.createReceiver(name).peekMessages(1), unauthorized);
    const newSecondary = fixture.clientFor(connectionStringWith(fixture.emulator, 'agent-listen', second));
    assert.deepEqual(await newSecondary.createReceiver(name).peekMessages(1), []);
  });

  it('keeps keys that an update echoes back, never makes a key up, and refuses a rule without a PrimaryKey', async () => {
    const { name, listen, send } = await agentQueue();
    const current = await fixture.admin.getQueue(name);
    const changed = await fixture.admin.updateQueue({ ...current, maxDeliveryCount: 7 });
    assert.equal(changed.maxDeliveryCount, 7);
    assert.deepEqual(
      changed.authorizationRules?.map((r) => [r.keyName, r.primaryKey, r.secondaryKey]),
      [
        ['agent-listen', listen.primaryKey, listen.secondaryKey],
        ['agent-send', send.primaryKey, send.secondaryKey],
      ],
    );

    // A rule without its keys: Service Bus requires the PrimaryKey (the SDKs of other languages make
    // keys on the client); nothing changes.
    await assert.rejects(
      setKeys(name, 'agent-listen', { primaryKey: undefined, secondaryKey: undefined }),
      restError(400),
    );
    await assert.rejects(
      fixture.admin.createQueue(`${name}-keyless`, {
        authorizationRules: [
          { claimType: 'SharedAccessKey', keyName: 'agent-listen', accessRights: ['Listen'] },
        ],
      }),
      restError(400),
    );
    await assert.rejects(setKeys(name, 'agent-listen', { primaryKey: 'too-short' }), restError(400));
    const after = await fixture.admin.getQueue(name);
    assert.equal(ruleOf(after.authorizationRules, 'agent-listen')?.primaryKey, listen.primaryKey);
    assert.equal(ruleOf(after.authorizationRules, 'agent-listen')?.secondaryKey, listen.secondaryKey);

    // A rule sent without its SecondaryKey has none afterwards: the old secondary stops working.
    const withoutSecondary = await setKeys(name, 'agent-listen', { secondaryKey: undefined });
    assert.equal(ruleOf(withoutSecondary.authorizationRules, 'agent-listen')?.secondaryKey, undefined);
    const stale = fixture.clientFor(
      connectionStringWith(fixture.emulator, 'agent-listen', listen.secondaryKey!),
    );
    await assert.rejects(stale.createReceiver(name).peekMessages(1), unauthorized);
    const primary = fixture.clientFor(
      connectionStringWith(fixture.emulator, 'agent-listen', listen.primaryKey!),
    );
    assert.deepEqual(await primary.createReceiver(name).peekMessages(1), []);
  });

  it('leaves a link opened with the old key working, while a new put-token with that key fails at once', async () => {
    const { name, listen } = await agentQueue();
    const agent = fixture.clientFor(
      connectionStringWith(fixture.emulator, 'agent-listen', listen.primaryKey!),
    );
    const receiver = agent.createReceiver(name, { receiveMode: 'receiveAndDelete' });
    const sender = fixture.client.createSender(name);
    await sender.sendMessages({ body: 'before' });
    assert.equal(await receiveOne(receiver), 'before');

    await setKeys(name, 'agent-listen', { primaryKey: newKey() });

    // The open link's token (an hour, from the SDK) is still valid: it keeps receiving.
    await sender.sendMessages({ body: 'after' });
    assert.equal(await receiveOne(receiver), 'after');
    // A second link on the same connection puts a new token signed with the old key: refused, as a
    // renewal of the first link's token will be when it falls due.
    await assert.rejects(agent.createReceiver(name).peekMessages(1), unauthorized);
    await sender.sendMessages({ body: 'still' });
    assert.equal(await receiveOne(receiver), 'still');
    await receiver.close();
  });

  it('force-detaches a link when its token expires, and the old key cannot bring it back', async () => {
    const { name, listen } = await agentQueue();
    const audience = `sb://${fixture.emulator.host}:${fixture.emulator.amqpPort}/${name}`;
    const expiresAt = Math.floor(Date.now() / 1000) + 4;
    const token = signSasToken(audience, 'agent-listen', listen.primaryKey!, expiresAt);
    const agent = fixture.clientFor(
      `Endpoint=sb://${fixture.emulator.host}:${fixture.emulator.amqpPort};SharedAccessSignature=${token};UseDevelopmentEmulator=true`,
      { retryOptions: { maxRetries: 1, retryDelayInMs: 200, timeoutInMs: 5000 } },
    );
    const received: unknown[] = [];
    const errors: unknown[] = [];
    const receiver = agent.createReceiver(name, { receiveMode: 'receiveAndDelete' });
    const subscription = receiver.subscribe({
      processMessage: async (message: ServiceBusReceivedMessage) => {
        received.push(message.body);
      },
      processError: async ({ error }) => {
        errors.push(error);
      },
    });
    const sender = fixture.client.createSender(name);
    await sender.sendMessages({ body: 'first' });
    await until(() => received.includes('first'), 'the first message');

    await setKeys(name, 'agent-listen', { primaryKey: newKey() });
    await sender.sendMessages({ body: 'while the token lasts' });
    await until(() => received.includes('while the token lasts'), 'a message after the key change');

    // Service Bus detaches the link when its token runs out unrenewed; the SDK reports it and tries to
    // attach again, and each attempt's put-token is refused (UnauthorizedAccess, inside the
    // AggregateError of the SDK's retries).
    await until(
      () => errors.some((e) => isServiceBusError(e) && /force detached\. Code: RenewToken/.test(e.message)),
      'the link to be force-detached',
    );
    const codes = (e: unknown): string[] =>
      e instanceof AggregateError ? e.errors.flatMap(codes) : [String((e as { code?: unknown }).code)];
    await until(() => errors.flatMap(codes).includes('UnauthorizedAccess'), 'the attach again to be refused');
    assert.ok(Date.now() >= expiresAt * 1000, 'not before the token expired');
    await sender.sendMessages({ body: 'after expiry' });
    await delay(1000);
    assert.ok(!received.includes('after expiry'), 'the detached link received nothing more');
    await subscription.close();
    await receiver.close();

    const peek = fixture.client.createReceiver(name, { receiveMode: 'receiveAndDelete' });
    assert.equal(await receiveOne(peek), 'after expiry', 'the message waited in the queue');
    await peek.close();
  });
});
