/**
 * Entra ID (OAuth) authentication, as an agent signed in with its own identity instead of SAS keys:
 * `new ServiceBusClient(host, tokenCredential)` puts a `jwt` token on `$cbs` (over AMQPS, the SDK's only
 * transport for a credential), and the Azure Service Bus data roles (Owner, Sender, Receiver) at the
 * namespace or the queue decide, as in Service Bus. Tokens come from the development identity provider.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { ClientSecretCredential } from '@azure/identity';
import { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { ensureLocalCa, issueServerCertificate, type LocalCa } from '../../../../local/certs/index.js';
import {
  startIdentityProvider,
  type IdentityProvider,
  type MintOptions,
} from '../../../../local/identity/index.js';
import {
  SERVICE_BUS_RESOURCE,
  startServiceBusEmulator,
  type ServiceBusEmulator,
} from '../../../../local/servicebus/index.js';
import { FAST, hasCode, trustLocalCa } from './emulator-fixture.js';

const TENANT = 'writeback';
const OWNER = 'a0000000-0000-4000-8000-000000000001';
const SENDER = 'a0000000-0000-4000-8000-000000000002';
const RECEIVER = 'a0000000-0000-4000-8000-000000000003';
const NOBODY = 'a0000000-0000-4000-8000-000000000004';
const AGENT_CLIENT = {
  clientId: 'agent-app',
  clientSecret: 'agent-secret',
  objectId: 'a0000000-0000-4000-8000-000000000005',
};
const REQUESTS = 'writeback-t1';
const REPLIES = 'writeback-t1-replies';

describe('Service Bus emulator: Entra ID tokens on $cbs and on the management API', () => {
  let dir: string;
  let ca: LocalCa;
  let identity: IdentityProvider;
  let emulator: ServiceBusEmulator;
  const clients: ServiceBusClient[] = [];

  /** A credential whose tokens the identity provider signs for `oid` (as the SDK asks: any scope). */
  const credential = (oid: string, overrides: Partial<MintOptions> = {}): TokenCredential => ({
    async getToken(): Promise<AccessToken> {
      const token = await identity.mintToken({
        tenant: TENANT,
        oid,
        audience: `${SERVICE_BUS_RESOURCE}/`,
        ...overrides,
      });
      return { token, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  });
  const client = (cred: TokenCredential) => {
    const created = new ServiceBusClient(emulator.amqpsNamespace, cred, FAST);
    clients.push(created);
    return created;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-entra-'));
    ca = await ensureLocalCa(join(dir, 'certs'));
    const { certPem, keyPem } = issueServerCertificate(ca, { hosts: ['127.0.0.1'] });
    identity = await startIdentityProvider({
      port: 0,
      tls: { cert: certPem, key: keyPem },
      clients: [AGENT_CLIENT],
    });
    emulator = await startServiceBusEmulator({
      amqpPort: 0,
      managementPort: 0,
      certsDir: join(dir, 'certs'),
      issuer: identity.issuer(TENANT),
      roleAssignments: [
        { principalId: OWNER, role: 'Azure Service Bus Data Owner' },
        { principalId: SENDER, role: 'Azure Service Bus Data Sender', scope: `/queues/${REPLIES}` },
        { principalId: RECEIVER, role: 'Azure Service Bus Data Receiver', scope: `/queues/${REQUESTS}` },
        {
          principalId: AGENT_CLIENT.objectId,
          role: 'Azure Service Bus Data Receiver',
          scope: `/queues/${REQUESTS}`,
        },
        {
          principalId: AGENT_CLIENT.objectId,
          role: 'Azure Service Bus Data Sender',
          scope: `/queues/${REPLIES}`,
        },
      ],
    });
    trustLocalCa(ca.caPem);
    const admin = new ServiceBusAdministrationClient(emulator.amqpsNamespace, credential(OWNER));
    await admin.createQueue(REQUESTS);
    await admin.createQueue(REPLIES);
  });
  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await emulator?.close();
    await identity?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lets a Data Owner manage queues through ServiceBusAdministrationClient with a bearer token', async () => {
    const admin = new ServiceBusAdministrationClient(emulator.amqpsNamespace, credential(OWNER));
    const names: string[] = [];
    for await (const queue of admin.listQueues()) names.push(queue.name);
    assert.deepEqual(names.sort(), [REQUESTS, REPLIES].sort());
    assert.equal((await admin.getQueue(REQUESTS)).name, REQUESTS);
  });

  it('refuses management to a Sender and to a caller without any role (401)', async () => {
    for (const oid of [SENDER, NOBODY]) {
      const admin = new ServiceBusAdministrationClient(emulator.amqpsNamespace, credential(oid));
      await assert.rejects(admin.getQueue(REPLIES), (error: { statusCode?: number }) => {
        assert.equal(error.statusCode, 401);
        return true;
      });
    }
  });

  it('scopes roles to a queue: the agent receives its requests and sends its replies, and nothing else', async () => {
    await client(credential(OWNER)).createSender(REQUESTS).sendMessages({ body: 'request' });
    const [request] = await client(credential(RECEIVER))
      .createReceiver(REQUESTS, { receiveMode: 'receiveAndDelete' })
      .receiveMessages(1, { maxWaitTimeInMs: 5_000 });
    assert.equal(request?.body, 'request');
    await client(credential(SENDER)).createSender(REPLIES).sendMessages({ body: 'reply' });
    const [reply] = await client(credential(OWNER))
      .createReceiver(REPLIES, { receiveMode: 'receiveAndDelete' })
      .receiveMessages(1, { maxWaitTimeInMs: 5_000 });
    assert.equal(reply?.body, 'reply');
  });

  it('refuses a role missing for the operation: a Receiver cannot send, a Sender cannot receive (UnauthorizedAccess)', async () => {
    await assert.rejects(
      client(credential(RECEIVER)).createSender(REQUESTS).sendMessages({ body: 'x' }),
      hasCode('UnauthorizedAccess'),
    );
    await assert.rejects(
      client(credential(SENDER)).createReceiver(REPLIES).receiveMessages(1, { maxWaitTimeInMs: 1_000 }),
      hasCode('UnauthorizedAccess'),
    );
  });

  it('refuses the put-token of a caller with no role on the queue or namespace (401: UnauthorizedAccess)', async () => {
    await assert.rejects(
      client(credential(NOBODY)).createSender(REQUESTS).sendMessages({ body: 'x' }),
      hasCode('UnauthorizedAccess'),
    );
    // A role on one queue grants nothing on another.
    await assert.rejects(
      client(credential(SENDER)).createSender(REQUESTS).sendMessages({ body: 'x' }),
      hasCode('UnauthorizedAccess'),
    );
  });

  it('refuses tokens meant for another resource, expired, or from another tenant (UnauthorizedAccess)', async () => {
    const refused = [
      credential(OWNER, { audience: 'https://vault.azure.net' }),
      credential(OWNER, { notBefore: new Date(Date.now() - 7_200_000), lifetimeSeconds: 600 }),
      credential(OWNER, { tenant: 'contoso' }),
    ];
    for (const cred of refused) {
      await assert.rejects(
        client(cred).createSender(REQUESTS).sendMessages({ body: 'x' }),
        hasCode('UnauthorizedAccess'),
      );
    }
  });

  it('works with @azure/identity ClientSecretCredential, whose scope is the SDK’s https://servicebus.azure.net//.default', async () => {
    const agent = new ClientSecretCredential(TENANT, AGENT_CLIENT.clientId, AGENT_CLIENT.clientSecret, {
      authorityHost: identity.url,
      disableInstanceDiscovery: true,
    });
    await client(credential(OWNER)).createSender(REQUESTS).sendMessages({ body: 'for the agent' });
    const bus = client(agent);
    const [message] = await bus
      .createReceiver(REQUESTS, { receiveMode: 'receiveAndDelete' })
      .receiveMessages(1, { maxWaitTimeInMs: 5_000 });
    assert.equal(message?.body, 'for the agent');
    await bus.createSender(REPLIES).sendMessages({ body: 'done' });
  });
  it('refuses Entra ID tokens when started without an issuer, with a message that says why (UnauthorizedAccess)', async () => {
    // The same CA folder: a process trusts one local CA (two would share a subject name).
    const sasOnly = await startServiceBusEmulator({
      amqpPort: 0,
      managementPort: 0,
      certsDir: join(dir, 'certs'),
    });
    const bus = new ServiceBusClient(sasOnly.amqpsNamespace, credential(OWNER), FAST);
    try {
      await new ServiceBusAdministrationClient(sasOnly.amqpsConnectionString).createQueue('q');
      await assert.rejects(bus.createSender('q').sendMessages({ body: 'x' }), (error: Error) => {
        hasCode('UnauthorizedAccess')(error);
        assert.match(error.message, /without an issuer/);
        return true;
      });
    } finally {
      await bus.close();
      await sasOnly.close();
    }
  });
});
