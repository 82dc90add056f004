/**
 * The agent's SAS rules are the tenant's "relay password": a rollover regenerates one key slot of
 * both rules (Listen on `writeback-{t}`, Send on `writeback-{t}-replies`) through the official
 * ServiceBusAdministrationClient. The rule is read and written back whole, so the other slot's key
 * (the one the agent uses) is echoed unchanged.
 */
import type { ServiceBusAdministrationClient } from '@azure/service-bus';
import { newSasKey } from '../tenants/index.js';
import type { SasKeySlot, TenantRecord } from '../tenants/index.js';

export function otherSlot(slot: SasKeySlot): SasKeySlot {
  return slot === 'primary' ? 'secondary' : 'primary';
}

/** The two keys of one slot, for the control message. */
export interface AgentKeys {
  listenKey: string;
  sendKey: string;
}

async function setRuleKey(
  admin: ServiceBusAdministrationClient,
  queue: string,
  ruleName: string,
  slot: SasKeySlot,
  key: string | undefined,
): Promise<string> {
  const properties = await admin.getQueue(queue);
  const rules = properties.authorizationRules ?? [];
  const rule = rules.find((r) => r.keyName === ruleName);
  if (!rule) throw new Error(`queue ${queue} has no rule ${ruleName}`);
  if (key === undefined) {
    const current = slot === 'primary' ? rule.primaryKey : rule.secondaryKey;
    if (!current) throw new Error(`rule ${ruleName} on ${queue} has no ${slot} key`);
    return current;
  }
  const updated = rules.map((r) =>
    r.keyName === ruleName ? { ...r, [slot === 'primary' ? 'primaryKey' : 'secondaryKey']: key } : r,
  );
  await admin.updateQueue({ ...properties, authorizationRules: updated });
  return key;
}

/** Regenerates `slot` of both of the agent's rules; returns the new keys. */
export async function regenerateAgentKeys(
  admin: ServiceBusAdministrationClient,
  record: Pick<TenantRecord, 'requestQueue' | 'repliesQueue' | 'listenRule' | 'sendRule'>,
  slot: SasKeySlot,
): Promise<AgentKeys> {
  const listenKey = await setRuleKey(admin, record.requestQueue, record.listenRule, slot, newSasKey());
  const sendKey = await setRuleKey(admin, record.repliesQueue, record.sendRule, slot, newSasKey());
  return { listenKey, sendKey };
}

/** Reads `slot` of both of the agent's rules (to send a control message again). */
export async function readAgentKeys(
  admin: ServiceBusAdministrationClient,
  record: Pick<TenantRecord, 'requestQueue' | 'repliesQueue' | 'listenRule' | 'sendRule'>,
  slot: SasKeySlot,
): Promise<AgentKeys> {
  const listenKey = await setRuleKey(admin, record.requestQueue, record.listenRule, slot, undefined);
  const sendKey = await setRuleKey(admin, record.repliesQueue, record.sendRule, slot, undefined);
  return { listenKey, sendKey };
}
