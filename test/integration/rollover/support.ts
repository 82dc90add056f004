/** A KeyRollover on a test cloud's services, with the test's policy, pacer and clock. */
import { ServiceBusClient } from '@azure/service-bus';
import { EncryptionKeys, RequestSenders } from '../../../shared/operations/index.js';
import {
  KeyRollover,
  type CreationPacer,
  type KeyRolloverOptions,
  type RolloverPolicy,
} from '../../../shared/rollover/index.js';
import { AuditLog, TenantRegistry } from '../../../shared/tenants/index.js';
import type { CloudUnderTest } from '../../support/cloud.js';

/** One Service Bus connection per cloud, however many rollovers a test builds (like one per instance). */
const senders = new WeakMap<CloudUnderTest, RequestSenders>();

export function keyRolloverOn(
  cloud: CloudUnderTest,
  options: {
    policy: RolloverPolicy;
    messageTtlMs: number;
    pacer: CreationPacer;
    now: () => Date;
    liveAgents?: KeyRolloverOptions['liveAgents'];
  },
): KeyRollover {
  const keys = cloud.keyClient();
  let sender = senders.get(cloud);
  if (!sender) {
    sender = new RequestSenders(new ServiceBusClient(cloud.env.ServiceBusConnection!));
    senders.set(cloud, sender);
  }
  return new KeyRollover({
    registry: new TenantRegistry(cloud.table('tenants')),
    audit: new AuditLog(cloud.table('audit')),
    keys,
    serviceBus: cloud.serviceBusAdmin,
    senders: sender,
    encryptionKeys: new EncryptionKeys(keys),
    ...options,
  });
}
