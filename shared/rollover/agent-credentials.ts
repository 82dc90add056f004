/**
 * The agent's SAS rules are the tenant's "relay password": a rollover regenerates one key slot of
 * both rules (Listen on `writeback-{t}`, Send on `writeback-{t}-replies`) through the official
 * ServiceBusAdministrationClient. The rule is read and written back whole, so the other slot's key
 * (the one the agent uses) is echoed unchanged.
 */
import type { ServiceBusAdministrationClient } from '@azure/service-bus';
import { newSasKey, type SasKeySlot, type TenantRecord } from '../tenants/index.js';

export function otherSlot(slot: SasKeySlot): SasKeySlot {
  return slot === 'primary' ? 'secondary' : 'primary';
}

/** The two keys of one slot, for the control message. */
export interface AgentKeys {
  listenKey: string;
  sendKey: string;
}

type AgentQueues = Pick<TenantRecord, 'requestQueue' | 'repliesQueue' | 'listenRule' | 'sendRule'>;

const KEY_FIELD = { primary: 'primaryKey', secondary: 'secondaryKey' } as const;

/** The key in `slot` of rule `ruleName` on `queue`; with `replacement`, sets it first. */
async function ruleKey(
  admin: ServiceBusAdministrationClient,
  queue: string,
  ruleName: string,
  slot: SasKeySlot,
  replacement?: string,
): Promise<string> {
  const properties = await admin.getQueue(queue);
  const rules = properties.authorizationRules ?? [];
  const rule = rules.find((r) => r.keyName === ruleName);
  if (!rule) throw new Error(`queue ${queue} has no rule ${ruleName}`);
  if (replacement === undefined) {
    const current = rule[KEY_FIELD[slot]];
    if (!current) throw new Error(`rule ${ruleName} on ${queue} has no ${slot} key`);
    return current;
  }
  const authorizationRules = rules.map((r) => (r === rule ? { ...r, [KEY_FIELD[slot]]: replacement } : r));
  await admin.updateQueue({ ...properties, authorizationRules });
  return replacement;
}

/** Regenerates `slot` of both of the agent's rules; returns the new keys. */
export async function regenerateAgentKeys(
  admin: ServiceBusAdministrationClient,
  queues: AgentQueues,
  slot: SasKeySlot,
): Promise<AgentKeys> {
  const listenKey = await ruleKey(admin, queues.requestQueue, queues.listenRule, slot, newSasKey());
  const sendKey = await ruleKey(admin, queues.repliesQueue, queues.sendRule, slot, newSasKey());
  return { listenKey, sendKey };
}

/** Reads `slot` of both of the agent's rules (to send a control message again). */
export async function readAgentKeys(
  admin: ServiceBusAdministrationClient,
  queues: AgentQueues,
  slot: SasKeySlot,
): Promise<AgentKeys> {
  const listenKey = await ruleKey(admin, queues.requestQueue, queues.listenRule, slot);
  const sendKey = await ruleKey(admin, queues.repliesQueue, queues.sendRule, slot);
  return { listenKey, sendKey };
}
