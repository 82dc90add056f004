/**
 * A phase's calls, from the emulators' and Azurite's own counters (emulator-counters.ts), sorted into
 * the cloud side (the function app) and the agent side, and divided by what the phase did (resets or
 * heartbeats). Who is who: on Service Bus the rule a connection authenticated with (the app uses the
 * namespace's RootManageSharedAccessKey, the agent its queues' rules); on Key Vault the principal;
 * on Azurite the User-Agent (the bench's own calls carry BENCH_USER_AGENT; the agent never calls it).
 */
import { ROOT_RULE_NAME } from '../local/servicebus/index.js';
import { DEV_IDENTITIES } from '../local/stack/identities.js';
import type { Counters } from './emulator-counters.js';
import { BENCH_USER_AGENT } from './irreducible-parts.js';

export type Side = 'cloud' | 'agent';

export interface CallCounts {
  /** Table operation → count (the app's requests; `batchOperations` and `queryEntities` are inside them). */
  table: Record<string, number>;
  tableRequests: number;
  /** Entities read or written: point operations, a batch's operations, a query's results. */
  tableEntities: number;
  /** Key Vault: operation (or `operation status` when not 200) → count, per side; `anonymous` calls apart. */
  keyVault: Record<Side | 'anonymous', Record<string, number>>;
  keyVaultTotal: number;
  /** Service Bus counters (sends, deliveries, settle:…, management:…, managementHttp:…) per side. */
  serviceBus: Record<Side, Record<string, number>>;
  /** Sends, receives, settlements and $management requests (one Standard credit each). */
  serviceBusDataOperations: number;
  /** Entity create/read/update/delete over HTTPS (ten credits each). */
  serviceBusManagementOperations: number;
  /** Per queue: sends, body and message bytes. */
  queues: Record<string, Record<string, number>>;
}

const CLOUD_PRINCIPAL = DEV_IDENTITIES.functionsApp.objectId;
const AGENT_PRINCIPAL = DEV_IDENTITIES.demoAgent.objectId;
const NOT_REQUESTS = new Set(['batchOperations', 'queryEntities']);
const ENTITY_OPERATIONS = new Set([
  'pointRead',
  'replace',
  'merge',
  'delete',
  'insert',
  'batchOperations',
  'queryEntities',
]);
const DATA_OPERATION = /^(sends|deliveries|settle:.*|management:.*)$/;

function add(map: Record<string, number>, key: string, value: number): void {
  map[key] = (map[key] ?? 0) + value;
}

export function callsOf(delta: Counters): CallCounts {
  const calls: CallCounts = {
    table: {},
    tableRequests: 0,
    tableEntities: 0,
    keyVault: { cloud: {}, agent: {}, anonymous: {} },
    keyVaultTotal: 0,
    serviceBus: { cloud: {}, agent: {} },
    serviceBusDataOperations: 0,
    serviceBusManagementOperations: 0,
    queues: {},
  };
  for (const [key, value] of Object.entries(delta)) {
    const [source, a = '', b = '', c = ''] = key.split('|');
    if (source === 'table') {
      if (a === BENCH_USER_AGENT) continue; // the bench's own calls
      add(calls.table, b, value);
      if (b.startsWith('status:')) continue; // an answer's status, the request is counted already
      if (!NOT_REQUESTS.has(b)) calls.tableRequests += value;
      if (ENTITY_OPERATIONS.has(b)) calls.tableEntities += value;
    } else if (source === 'kv') {
      const side =
        a === CLOUD_PRINCIPAL
          ? 'cloud'
          : a === AGENT_PRINCIPAL
            ? 'agent'
            : a === 'anonymous'
              ? 'anonymous'
              : undefined;
      if (!side) continue; // the bench's own calls
      add(calls.keyVault[side], c === '200' ? b : `${b} ${c}`, value);
      calls.keyVaultTotal += value;
    } else if (source === 'sb' && a === 'identity' && b !== 'unauthorized') {
      const side: Side = b === ROOT_RULE_NAME ? 'cloud' : 'agent';
      add(calls.serviceBus[side], c, value);
      if (DATA_OPERATION.test(c)) calls.serviceBusDataOperations += value;
      if (c.startsWith('managementHttp:')) calls.serviceBusManagementOperations += value;
    } else if (source === 'sb' && a === 'queue') {
      (calls.queues[b] ??= {})[c] = value;
    }
  }
  return calls;
}

/** Every count of `calls` divided by `by` (per reset, per heartbeat). */
export function perUnit(calls: CallCounts, by: number): CallCounts {
  const divide = (map: Record<string, number>) =>
    Object.fromEntries(Object.entries(map).map(([key, value]) => [key, value / by]));
  return {
    table: divide(calls.table),
    tableRequests: calls.tableRequests / by,
    tableEntities: calls.tableEntities / by,
    keyVault: {
      cloud: divide(calls.keyVault.cloud),
      agent: divide(calls.keyVault.agent),
      anonymous: divide(calls.keyVault.anonymous),
    },
    keyVaultTotal: calls.keyVaultTotal / by,
    serviceBus: { cloud: divide(calls.serviceBus.cloud), agent: divide(calls.serviceBus.agent) },
    serviceBusDataOperations: calls.serviceBusDataOperations / by,
    serviceBusManagementOperations: calls.serviceBusManagementOperations / by,
    queues: Object.fromEntries(
      Object.entries(calls.queues).map(([queue, counts]) => [queue, divide(counts)]),
    ),
  };
}

/** Mean body and message sizes (bytes) of what was sent to `queue` in the phase. */
export function sizesOf(calls: CallCounts, queue: string): { bodyBytes: number; messageBytes: number } {
  const counts = calls.queues[queue] ?? {};
  const sends = counts.sends ?? 0;
  return {
    bodyBytes: sends ? Math.round((counts.sendBodyBytes ?? 0) / sends) : NaN,
    messageBytes: sends ? Math.round((counts.sendBytes ?? 0) / sends) : NaN,
  };
}
