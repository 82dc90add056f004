/**
 * Enabling, reading and disabling password writeback for a tenant (docs/api.md).
 *
 * Enable provisions in an order that a retry can resume: the `tenants` row first says `provisioning`,
 * then the queues, the agent's rules and the keys are brought to what they must be (each step
 * idempotent), and only then does the row say `enabled`. The agent's connection strings are answered
 * by the request that completes an enable, once; a PUT on an enabled tenant changes nothing and
 * answers the configuration without them.
 *
 * Disable writes `disabling` first, so operations stop at once, then deletes the queues (and with
 * them the agent's rules) and disables every key version, and ends with `disabled`.
 */
import { RETRY_AFTER_SECONDS } from '../domain/index.js';
import type { KeyClient } from '@azure/keyvault-keys';
import type { AuthorizationRule, ServiceBusAdministrationClient } from '@azure/service-bus';
import {
  keyClientFromSettings,
  serviceBusAdministrationClientFromSettings,
  serviceBusEndpointFromSettings,
  type ServiceBusEndpoint,
} from '../azure/index.js';
import { loadSettings, settings as loadedSettings, type Environment } from '../config/index.js';
import { ProblemError } from '../errors/index.js';
import { callDependency } from '../azure/index.js';

import { repliesQueueName, requestQueueName, SHARED_REPLIES_QUEUE } from '../wire/index.js';
import { AuditLog } from './audit.js';
import { rolloverPolicy, type RolloverPolicy } from './rollover-policy.js';
import { rolloverView } from './rollover-view.js';
import { disableTenantKeys, ensureTenantKeys, type KeyProtection } from './keys.js';
import {
  AGENT_LISTEN_RULE,
  AGENT_SEND_RULE,
  deleteQueueIfExists,
  ensureQueue,
  repliesQueueSettings,
  requestQueueSettings,
  sharedRepliesQueueSettings,
} from './queues.js';
import {
  TenantRegistry,
  TenantRowConflict,
  type Actor,
  type StoredTenant,
  type TenantRecord,
} from './tenant-registry.js';
import type { z } from 'zod';
import type { WritebackConfiguration as WritebackConfigurationSchema } from '../api/index.js';
import type { Logger } from '../domain/index.js';

/** The Service Bus connection setting of the tenants' queues (docs/settings.md). */
export const SERVICE_BUS_CONNECTION = 'ServiceBusConnection';

/** What GET answers: the configuration, never a secret (the API's schema is the one definition). */
export type WritebackConfiguration = z.infer<typeof WritebackConfigurationSchema>;

/** The agent's two connection strings, each scoped to one queue (EntityPath) with one right. */
export interface AgentConnectionStrings {
  /** Listen on `writeback-{t}`. */
  listen: string;
  /** Send on `writeback-{t}-replies`. */
  send: string;
}

export type EnableOutcome =
  | { created: true; configuration: WritebackConfiguration; agentConnectionStrings: AgentConnectionStrings }
  | { created: false; configuration: WritebackConfiguration };

export interface WritebackTenantsOptions {
  registry: TenantRegistry;
  audit: AuditLog;
  serviceBus: ServiceBusAdministrationClient;
  serviceBusEndpoint: ServiceBusEndpoint;
  keys: KeyClient;
  messageTtlMs: number;
  keyProtection: KeyProtection;
  /** Key rollover: the keys' expiry policy, the period and the grace (shown by GET). */
  rollover: RolloverPolicy;
  now?: () => Date;
}

/** Seconds a caller should wait before retrying after a dependency fault. */
/** Attempts when another admin changes the row between our read and our write. */
const MAX_ATTEMPTS = 3;

function writebackDisabled(tenantId: string): ProblemError {
  return new ProblemError(
    'WritebackDisabled',
    `Password writeback has never been enabled for tenant ${tenantId}. An admin enables it with PUT.`,
  );
}

function changedConcurrently(): ProblemError {
  return new ProblemError(
    'ServiceUnavailable',
    "The tenant's writeback configuration was changed by another request at the same time; retry.",
    { retryAfterSeconds: RETRY_AFTER_SECONDS },
  );
}

export class WritebackTenants {
  private readonly now: () => Date;

  constructor(private readonly options: WritebackTenantsOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** The process-wide instance, built from the app settings on first use (clients are reused). */
  static fromSettings(env: Environment = process.env): WritebackTenants {
    const appSettings = env === process.env ? loadedSettings() : loadSettings(env);
    return new WritebackTenants({
      registry: TenantRegistry.fromSettings(env),
      audit: AuditLog.fromSettings(env),
      serviceBus: serviceBusAdministrationClientFromSettings(SERVICE_BUS_CONNECTION, env),
      serviceBusEndpoint: serviceBusEndpointFromSettings(SERVICE_BUS_CONNECTION, env),
      keys: keyClientFromSettings(env),
      messageTtlMs: appSettings.messageTtlMs,
      keyProtection: appSettings.keyProtection,
      rollover: rolloverPolicy(appSettings),
    });
  }

  /** GET: the configuration; 409 WritebackDisabled for a tenant never enabled. */
  async configuration(tenantId: string, log?: Logger): Promise<WritebackConfiguration> {
    const stored = await callDependency('Table storage', () => this.options.registry.get(tenantId), log);
    if (!stored) throw writebackDisabled(tenantId);
    return this.view(stored.record);
  }

  /**
   * For the password routes: the tenant's record if writeback is enabled, else 409 WritebackDisabled.
   * Read on every call (one point read), so a disable stops new operations at once.
   */
  /** Forgets this instance's cached row of `tenantId` (it changed elsewhere). */
  forget(tenantId: string): void {
    this.options.registry.forget(tenantId);
  }

  /** For the password routes: the tenant's row if it is enabled (as of TENANT_ROW_CACHE_MS), else 409. */
  async requireEnabled(tenantId: string, log?: Logger): Promise<TenantRecord> {
    const stored = await callDependency('Table storage', () => this.options.registry.recent(tenantId), log);
    if (stored?.record.state !== 'enabled') {
      if (!stored) throw writebackDisabled(tenantId);
      throw new ProblemError(
        'WritebackDisabled',
        `Password writeback is ${stored.record.state} for tenant ${tenantId}.`,
      );
    }
    return stored.record;
  }

  /** PUT: enables writeback, or completes an enable that stopped half-way. */
  async enable(tenantId: string, actor: Actor, log?: Logger): Promise<EnableOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.tryEnable(tenantId, actor, log);
      } catch (error) {
        if (!(error instanceof TenantRowConflict)) throw error;
        if (attempt >= MAX_ATTEMPTS) throw changedConcurrently();
      }
    }
  }

  private async tryEnable(tenantId: string, actor: Actor, log?: Logger): Promise<EnableOutcome> {
    const { registry, serviceBus, keys } = this.options;
    const stored = await callDependency('Table storage', () => registry.get(tenantId), log);
    if (stored?.record.state === 'enabled')
      return { created: false, configuration: this.view(stored.record) };

    const requestQueue = requestQueueName(tenantId);
    const repliesQueue = repliesQueueName(tenantId);
    const startedAt = this.now().toISOString();
    const starting: TenantRecord = {
      tenantId,
      state: 'provisioning',
      requestQueue,
      repliesQueue,
      listenRule: AGENT_LISTEN_RULE,
      sendRule: AGENT_SEND_RULE,
      enabledAt: startedAt,
      enabledBy: actor,
      updatedAt: startedAt,
    };
    // A disable that stopped half-way is finished first: a re-enable must never hand the old agent's
    // rules or key versions to the new agent (nor leave them to the old one).
    if (stored?.record.state === 'disabling') await this.revokeAgent(stored.record, log);
    let current: StoredTenant;
    if (!stored) current = await callDependency('Table storage', () => registry.create(starting), log);
    else if (stored.record.state === 'provisioning') current = stored;
    else current = await callDependency('Table storage', () => registry.replace(starting, stored.etag), log);

    // The forwarding target first: a queue cannot forward to a queue that does not exist.
    await callDependency(
      'Service Bus',
      () => ensureQueue(serviceBus, SHARED_REPLIES_QUEUE, sharedRepliesQueueSettings()),
      log,
    );
    const replies = await callDependency(
      'Service Bus',
      () =>
        ensureQueue(serviceBus, repliesQueue, repliesQueueSettings(), {
          name: AGENT_SEND_RULE,
          rights: ['Send'],
        }),
      log,
    );
    const requests = await callDependency(
      'Service Bus',
      () =>
        ensureQueue(serviceBus, requestQueue, requestQueueSettings(this.options.messageTtlMs), {
          name: AGENT_LISTEN_RULE,
          rights: ['Listen'],
        }),
      log,
    );
    const { rollover } = this.options;
    const ensured = await callDependency(
      'Key Vault',
      () => ensureTenantKeys(keys, tenantId, this.options.keyProtection, rollover),
      log,
    );

    const enabledAt = this.now().toISOString();
    const enabled: TenantRecord = {
      tenantId,
      state: 'enabled',
      requestQueue,
      repliesQueue,
      listenRule: AGENT_LISTEN_RULE,
      sendRule: AGENT_SEND_RULE,
      // A new enablement starts the rollover state afresh: new queues (so new SAS keys, the agent on
      // the primary slot) and, after a disable, new key versions; nothing replaced is in grace.
      ...ensured.ids,
      agentKeySlot: 'primary',
      enabledAt,
      enabledBy: actor,
      updatedAt: enabledAt,
    };
    try {
      await callDependency('Table storage', () => registry.replace(enabled, current.etag), log);
    } catch (error) {
      if (!(error instanceof TenantRowConflict)) throw error;
      // Another PUT completed the same enable first: it answered the secrets; this one does not.
      const now = await callDependency('Table storage', () => registry.get(tenantId), log);
      if (now?.record.state === 'enabled') return { created: false, configuration: this.view(now.record) };
      throw error;
    }
    await this.audit(tenantId, 'WritebackEnabled', actor, enabledAt, log);
    if (ensured.created && stored) {
      // A re-enable: the keys rolled (new versions; the old ones stay disabled).
      await this.audit(tenantId, 'KeyRolledOver', actor, enabledAt, log, 're-enable');
    }
    return {
      created: true,
      configuration: this.view(enabled),
      agentConnectionStrings: {
        listen: this.connectionString(requests.rule, requestQueue),
        send: this.connectionString(replies.rule, repliesQueue),
      },
    };
  }

  /** DELETE: disables writeback (and repairs a disable that stopped half-way). */
  async disable(tenantId: string, actor: Actor, log?: Logger): Promise<WritebackConfiguration> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.tryDisable(tenantId, actor, log);
      } catch (error) {
        if (!(error instanceof TenantRowConflict)) throw error;
        if (attempt >= MAX_ATTEMPTS) throw changedConcurrently();
      }
    }
  }

  private async tryDisable(tenantId: string, actor: Actor, log?: Logger): Promise<WritebackConfiguration> {
    const { registry } = this.options;
    const stored = await callDependency('Table storage', () => registry.get(tenantId), log);
    if (!stored) throw writebackDisabled(tenantId);
    const wasDisabled = stored.record.state === 'disabled';
    let current = stored;
    if (stored.record.state === 'enabled' || stored.record.state === 'provisioning') {
      // First of all: operations stop now, whatever happens next.
      const at = this.now().toISOString();
      const disabling: TenantRecord = {
        ...stored.record,
        state: 'disabling',
        disabledAt: at,
        disabledBy: actor,
        updatedAt: at,
      };
      current = await callDependency('Table storage', () => registry.replace(disabling, stored.etag), log);
    }

    await this.revokeAgent(current.record, log);

    if (wasDisabled) return this.view(current.record);
    const at = this.now().toISOString();
    const disabled: TenantRecord = { ...current.record, state: 'disabled', updatedAt: at };
    await callDependency('Table storage', () => registry.replace(disabled, current.etag), log);
    await this.audit(tenantId, 'WritebackDisabled', actor, at, log);
    return this.view(disabled);
  }

  /**
   * Takes away everything the tenant's agent holds: deleting a queue deletes its rules, so the old
   * connection strings name nothing (even once a re-enable recreates the queues), and every key
   * version is disabled.
   */
  private async revokeAgent(record: TenantRecord, log?: Logger): Promise<void> {
    const { serviceBus, keys } = this.options;
    await callDependency('Service Bus', () => deleteQueueIfExists(serviceBus, record.requestQueue), log);
    await callDependency('Service Bus', () => deleteQueueIfExists(serviceBus, record.repliesQueue), log);
    await callDependency('Key Vault', () => disableTenantKeys(keys, record.tenantId), log);
  }

  /** Audit is best effort here: the change is made, and failing the request would lose its answer. */
  private async audit(
    tenantId: string,
    action: 'WritebackEnabled' | 'WritebackDisabled' | 'KeyRolledOver',
    actor: Actor,
    at: string,
    log?: Logger,
    reason?: string,
  ): Promise<void> {
    try {
      await this.options.audit.record({
        tenantId,
        action,
        actor,
        target:
          action === 'KeyRolledOver' ? `tenants/${tenantId}/writeback/keys` : `tenants/${tenantId}/writeback`,
        outcome: 'succeeded',
        at: new Date(at),
        ...(reason ? { reason } : {}),
      });
    } catch (error) {
      log?.warn(`Audit of ${action} for tenant ${tenantId} was not written: ${String(error)}`);
    }
  }

  private connectionString(rule: AuthorizationRule | undefined, queue: string): string {
    if (!rule?.primaryKey) throw new Error(`Service Bus returned no key for the agent's rule on ${queue}`);
    const { endpoint, developmentEmulator } = this.options.serviceBusEndpoint;
    return [
      `Endpoint=${endpoint}`,
      `SharedAccessKeyName=${rule.keyName}`,
      `SharedAccessKey=${rule.primaryKey}`,
      `EntityPath=${queue}`,
      ...(developmentEmulator ? ['UseDevelopmentEmulator=true'] : []),
    ].join(';');
  }

  private view(record: TenantRecord): WritebackConfiguration {
    return {
      tenantId: record.tenantId,
      state: record.state,
      serviceBusEndpoint: this.options.serviceBusEndpoint.endpoint,
      requestQueue: record.requestQueue,
      repliesQueue: record.repliesQueue,
      agentListenRule: record.listenRule,
      agentSendRule: record.sendRule,
      ...(record.encryptionKeyId ? { encryptionKeyId: record.encryptionKeyId } : {}),
      ...(record.signatureKeyId ? { signatureKeyId: record.signatureKeyId } : {}),
      ...(record.enabledAt ? { enabledAt: record.enabledAt } : {}),
      ...(record.enabledBy ? { enabledBy: record.enabledBy } : {}),
      ...(record.disabledAt ? { disabledAt: record.disabledAt } : {}),
      ...(record.disabledBy ? { disabledBy: record.disabledBy } : {}),
      ...(record.state === 'enabled' ? rolloverView(record, this.options.rollover, this.now()) : {}),
      updatedAt: record.updatedAt,
    };
  }
}

let instance: WritebackTenants | undefined;

/** The process-wide WritebackTenants: clients are built once per instance, not per request. */
export function writebackTenants(): WritebackTenants {
  instance ??= WritebackTenants.fromSettings();
  return instance;
}
