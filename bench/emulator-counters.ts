/**
 * The stack's own counts of what it was asked, read from the emulators' and Azurite's `/.emulator/stats`
 * endpoints (local/servicebus/stats, local/keyvault/http/request-stats.ts, local/azurite/request-counter.ts)
 * and flattened to `source|who|what` keys, so that a phase's calls are one subtraction:
 *
 * - `sb|identity|<key name>|<counter>` and `sb|queue|<queue>|<counter>` (Service Bus: sends, deliveries,
 *   settlements, management operations, bytes);
 * - `kv|<principal (oid)>|<operation>|<status>` (Key Vault);
 * - `table|<caller>|<operation>` (Azurite's table port only: the app's calls, the bench's own).
 */
import { readFile } from 'node:fs/promises';
import { get } from 'node:https';
import type { BrokerStatsSnapshot } from '../local/servicebus/stats/broker-stats.js';
import type { RequestStatsSnapshot } from '../local/keyvault/http/request-stats.js';
import type { AzuriteCountsSnapshot } from '../local/azurite/request-counter.js';
import { signSasToken } from '../local/servicebus/auth/sas.js';
import type { StackEndpoints } from './local-stack.js';

export type Counters = Record<string, number>;

export interface CounterSource {
  read(): Promise<Counters>;
}

/** `vaultToken`: a vault token of an administrator of the emulator (its stats are theirs to read). */
export async function openCounters(endpoints: StackEndpoints, vaultToken: string): Promise<CounterSource> {
  const ca = await readFile(endpoints.caPath, 'utf8');
  const connection = Object.fromEntries(
    endpoints.serviceBusConnection.split(';').map((part) => {
      const at = part.indexOf('=');
      return [part.slice(0, at), part.slice(at + 1)];
    }),
  );
  const serviceBusToken = () =>
    signSasToken(
      `${endpoints.serviceBusManagement}/`,
      connection.SharedAccessKeyName ?? '',
      connection.SharedAccessKey ?? '',
      Math.floor(Date.now() / 1000) + 600,
    );
  return {
    async read() {
      const [bus, vault, azurite] = await Promise.all([
        httpsJson<BrokerStatsSnapshot>(
          `${endpoints.serviceBusManagement}/.emulator/stats`,
          ca,
          serviceBusToken(),
        ),
        httpsJson<RequestStatsSnapshot>(`${endpoints.vaultUri}/.emulator/stats`, ca, `Bearer ${vaultToken}`),
        fetch(endpoints.azuriteStats).then((r) => r.json() as Promise<AzuriteCountsSnapshot>),
      ]);
      const counters: Counters = {};
      for (const [identity, values] of Object.entries(bus.byIdentity))
        for (const [counter, value] of Object.entries(values))
          counters[`sb|identity|${identity}|${counter}`] = value;
      for (const [queue, values] of Object.entries(bus.byQueue))
        for (const [counter, value] of Object.entries(values))
          counters[`sb|queue|${queue}|${counter}`] = value;
      for (const [caller, operations] of Object.entries(vault.byCaller))
        for (const [operation, statuses] of Object.entries(operations))
          for (const [status, value] of Object.entries(statuses))
            counters[`kv|${caller}|${operation}|${status}`] = value;
      for (const [caller, values] of Object.entries(azurite.byPort[String(endpoints.tablePort)] ?? {}))
        for (const [counter, value] of Object.entries(values)) counters[`table|${caller}|${counter}`] = value;
      return counters;
    },
  };
}

/** What changed from `before` to `after` (counters only grow; a new one counts from 0). */
export function difference(after: Counters, before: Counters): Counters {
  const changed: Counters = {};
  for (const [key, value] of Object.entries(after)) {
    const grown = value - (before[key] ?? 0);
    if (grown !== 0) changed[key] = grown;
  }
  return changed;
}

/** The sum of the counters whose key matches `pattern`. */
export function sumOf(counters: Counters, pattern: RegExp): number {
  let sum = 0;
  for (const [key, value] of Object.entries(counters)) if (pattern.test(key)) sum += value;
  return sum;
}

function httpsJson<T>(url: string, ca: string, authorization: string): Promise<T> {
  return new Promise((resolve, reject) => {
    get(url, { ca, headers: { authorization } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (response.statusCode !== 200)
          reject(new Error(`GET ${url} answered ${response.statusCode}: ${text}`));
        else resolve(JSON.parse(text) as T);
      });
      response.on('error', reject);
    }).on('error', reject);
  });
}
