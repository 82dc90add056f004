/**
 * Key rollover: every key of a tenant — `writeback-{t}-enc`, `writeback-{t}-sig` and the agent's
 * two SAS rules — rolls when the current versions reach KEY_ROLLOVER_AFTER (the keyRollover timer),
 * on demand (an admin, after a suspected compromise) and on re-enable (shared/tenants).
 *
 * The tenant's row is the one authority over which versions count:
 * 1. claim: an ETag-conditional write of `rolling` — of two timers running at once, one rolls;
 * 2. rotate both keys (Key Vault `rotateKey`, paced under the vault's creation limit), after
 *    writing the rotation policy (expiry a little over two periods, Notify 30 days before);
 * 3. record the new versions and the replaced ones (still enabled: a request sealed just before
 *    the roll still opens, a reply signed just before it still verifies) and, unless one is under
 *    way, a SAS rollover for the slot the agent does not use;
 * 4. SAS: regenerate that slot of both rules, mark the control message sent, send it sealed like a
 *    password request to each agent that sends heartbeats (active or standby), in its own session,
 *    so that a standby gets the new keys too; once every agent still seen acknowledged (signed), the
 *    old slot is retired (`acknowledge`). With no agent to be seen, it goes to the request session,
 *    for whichever agent takes it;
 * 5. later runs disable replaced versions once their grace has passed.
 * Every step can be repeated after a crash: a stale claim is taken over, a SAS slot is regenerated
 * again only while no control message can have carried it, a control message is sent again when
 * its TTL has passed without an acknowledgement.
 */
import { Deadline, RETRY_AFTER_SECONDS, withinDeadline } from '../domain/index.js';
import { randomUUID } from 'node:crypto';
import type { KeyClient, KeyVaultKey } from '@azure/keyvault-keys';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import type { ServiceBusAdministrationClient } from '@azure/service-bus';
import { keyClientFromSettings, serviceBusAdministrationClientFromSettings } from '../azure/index.js';
import { callDependency } from '../azure/index.js';
import { loadSettings, settings as loadedSettings, type Environment } from '../config/index.js';
import { ProblemError } from '../errors/index.js';
import { EncryptionKeys, RequestSenders, writebackOperations } from '../operations/index.js';
import { telemetryIfConfigured } from '../telemetry/index.js';
import { AuditLog } from '../tenants/index.js';
import { SERVICE_BUS_CONNECTION } from '../tenants/index.js';
import {
  TenantRegistry,
  TenantRowConflict,
  type Actor,
  type ReplacedKey,
  type StoredTenant,
  type TenantRecord,
} from '../tenants/index.js';
import {
  agentSessionId,
  encryptionKeyName,
  parseKeyId,
  REQUEST_SESSION_ID,
  sealRequest,
  signatureKeyName,
} from '../wire/index.js';
import { otherSlot, readAgentKeys, regenerateAgentKeys, type AgentKeys } from './agent-credentials.js';
import type { CreationPacer } from './creation-pacer.js';
import { keyVaultCreationPacer } from './creation-pacer.js';
import {
  inGrace,
  nextRolloverAt,
  ROLLOVER_CLAIM_TIMEOUT_MS,
  rolloverPolicy,
  type RolloverPolicy,
} from '../tenants/index.js';
import type { Logger } from '../domain/index.js';
import { heartbeatMonitor, HeartbeatMonitor } from '../heartbeats/index.js';

/** The agents a heartbeat monitor sees online or on standby: those a control message goes to. */
export function liveAgentsOf(monitor: HeartbeatMonitor): NonNullable<KeyRolloverOptions['liveAgents']> {
  return async (tenantId, enabledAt) => {
    const status = await monitor.heartbeatStatus(tenantId, enabledAt ? { enabledAt } : {});
    return status.agents.filter((a) => a.state === 'online' || a.state === 'standby').map((a) => a.agentId);
  };
}

/** After a run's deadline, how long the roll of the tenant in progress may still take. */
export const ROLL_FINISH_MS = 90_000;

export type RolloverReason = 'age' | 'manual' | 're-enable';

/**
 * How long one timer run starts new tenants: well inside host.json's functionTimeout (10 minutes),
 * so a run always ends by itself; the tenants left are still due at the next run.
 */
export const KEY_ROLLOVER_RUN_BUDGET_MS = 8 * 60_000;

/** The rollover's own actor in the audit table, when no person asked for it. */
export const TIMER_ACTOR: Actor = { objectId: '00000000-0000-0000-0000-000000000000', upn: 'keyRollover' };

export interface KeyRolloverOptions {
  registry: TenantRegistry;
  audit: AuditLog;
  keys: KeyClient;
  serviceBus: ServiceBusAdministrationClient;
  senders: RequestSenders;
  encryptionKeys: EncryptionKeys;
  policy: RolloverPolicy;
  messageTtlMs: number;
  pacer: CreationPacer;
  /**
   * The tenant's agents that send heartbeats (online or on standby) since its enablement at
   * `enabledAt`: those a control message goes to. Default: none (the request session).
   */
  liveAgents?: (tenantId: string, enabledAt: string | undefined) => Promise<string[]>;
  now?: () => Date;
}

export interface RolledKeys {
  rolloverId: string;
  encryptionKeyId: string;
  signatureKeyId: string;
  /** The agent's SAS keys: `pending` until it acknowledges. */
  agentCredentials: 'pending';
}

export interface RolloverRunSummary {
  /** Tenants whose keys rolled in this run. */
  rolled: number;
  /** Replaced versions disabled after their grace. */
  retired: number;
  /** Control messages sent (first sends and re-sends). */
  credentialsSent: number;
  /** Tenants due but left for the next run (deadline reached, claimed elsewhere). */
  deferred: number;
  /** Tenants where a step failed (logged; the next run retries). */
  failed: number;
}

/** `awaiting`: taken, and the tenant's other agents have yet to acknowledge. */
export type AcknowledgeOutcome = 'acknowledged' | 'awaiting' | 'stale';

/** Retry-After of a 429, in ms (seconds or an HTTP date); 10 s when absent. */
export function retryAfterMs(header: string | undefined, now = Date.now()): number {
  if (!header) return 10_000;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? 10_000 : Math.max(0, at - now);
}

/** A pipeline policy that tells the pacer about every 429 (the SDK itself waits and retries). */
export function throttleObserver(pacer: CreationPacer): PipelinePolicy {
  return {
    name: 'keyRolloverThrottleObserver',
    async sendRequest(request, next) {
      const response = await next(request);
      if (response.status === 429) pacer.throttled(retryAfterMs(response.headers.get('retry-after')));
      return response;
    },
  };
}

function iso(date: Date | undefined): string | undefined {
  return date?.toISOString();
}

function versionedId(key: KeyVaultKey): string {
  if (!key.id || !key.properties.version) throw new Error(`Key Vault returned ${key.name} without a version`);
  return key.id;
}

function changedConcurrently(): ProblemError {
  return new ProblemError(
    'ServiceUnavailable',
    "The tenant's keys are being rolled by another request at the same time; retry.",
    { retryAfterSeconds: RETRY_AFTER_SECONDS },
  );
}

export class KeyRollover {
  private readonly now: () => Date;

  constructor(private readonly options: KeyRolloverOptions) {
    this.now = options.now ?? (() => new Date());
  }

  static fromSettings(env: Environment = process.env): KeyRollover {
    const appSettings = env === process.env ? loadedSettings() : loadSettings(env);
    const pacer = keyVaultCreationPacer(appSettings.keyProtection);
    const keys = keyClientFromSettings(env, {
      additionalPolicies: [{ policy: throttleObserver(pacer), position: 'perRetry' }],
    });
    const transport =
      env === process.env
        ? writebackOperations().transport
        : {
            keys: new EncryptionKeys(keys),
            senders: RequestSenders.fromSettings(env),
          };
    return new KeyRollover({
      registry: TenantRegistry.fromSettings(env),
      audit: AuditLog.fromSettings(env),
      keys,
      serviceBus: serviceBusAdministrationClientFromSettings(SERVICE_BUS_CONNECTION, env),
      // The password routes' cache of public keys and their Service Bus connection, not a second of each.
      senders: transport.senders,
      encryptionKeys: transport.keys,
      policy: rolloverPolicy(appSettings),
      messageTtlMs: appSettings.messageTtlMs,
      pacer,
      // The instance's monitor, whose cache the replies function refreshes with each heartbeat.
      liveAgents: liveAgentsOf(env === process.env ? heartbeatMonitor() : HeartbeatMonitor.fromSettings(env)),
    });
  }

  /**
   * One run of the timer: for every enabled tenant, disable replaced versions past their grace,
   * roll the keys that are due (most overdue first) and follow up SAS rollovers. Stops starting
   * new tenants at `deadline` (ms since the epoch); what is left is still due at the next run.
   */
  run(deadline: number, log: Logger & { log?(...args: unknown[]): void }): Promise<RolloverRunSummary> {
    // No tenant is started after `deadline`; the one in progress may finish within ROLL_FINISH_MS.
    return withinDeadline(new Deadline(deadline + ROLL_FINISH_MS), () => this.runUntil(deadline, log));
  }

  private async runUntil(
    deadline: number,
    log: Logger & { log?(...args: unknown[]): void },
  ): Promise<RolloverRunSummary> {
    const summary: RolloverRunSummary = { rolled: 0, retired: 0, credentialsSent: 0, deferred: 0, failed: 0 };
    const now = this.now();
    const tenants: { stored: StoredTenant; due: Date | undefined }[] = [];
    for await (const stored of this.options.registry.listAll()) {
      if (stored.record.state !== 'enabled') continue;
      tenants.push({ stored, due: nextRolloverAt(stored.record, this.options.policy.periodMs) });
    }
    // Most overdue first, so that a run cut short by its deadline served the oldest keys.
    tenants.sort((a, b) => (a.due?.getTime() ?? 0) - (b.due?.getTime() ?? 0));
    for (const { stored, due } of tenants) {
      const tenantId = stored.record.tenantId;
      const isDue = due !== undefined && due.getTime() <= now.getTime();
      if (Date.now() >= deadline) {
        if (isDue) summary.deferred++;
        continue;
      }
      try {
        summary.retired += await this.retire(stored, log);
        if (isDue) {
          const rolled = await this.roll(tenantId, 'age', TIMER_ACTOR, log, { onlyIfDue: true });
          if (rolled) summary.rolled++;
          else summary.deferred++;
        }
        if (await this.followUpCredentials(tenantId, log, false)) summary.credentialsSent++;
      } catch (error) {
        summary.failed++;
        log.warn(`Key rollover of tenant ${tenantId} stopped (the next run resumes it): ${describe(error)}`);
      }
    }
    return summary;
  }

  /**
   * `POST …/writeback/keys/rollover`: rolls the tenant's keys now. 409 WritebackDisabled unless it
   * is enabled; 503 when another instance is rolling them this moment.
   */
  async rollNow(tenantId: string, actor: Actor, log?: Logger, note?: string): Promise<RolledKeys> {
    const rolled = await this.roll(tenantId, 'manual', actor, log, { onlyIfDue: false, note });
    if (!rolled) throw changedConcurrently();
    await this.followUpCredentials(tenantId, log, true).catch((error: unknown) =>
      log?.warn(
        `The control message of tenant ${tenantId} was not sent yet (the timer resends it): ${describe(error)}`,
      ),
    );
    return rolled;
  }

  /**
   * Rolls `-enc` and `-sig` and opens a SAS rollover. Undefined when another instance holds the
   * claim, or (`onlyIfDue`) when the keys are no longer due.
   */
  private async roll(
    tenantId: string,
    reason: RolloverReason,
    actor: Actor,
    log: Logger | undefined,
    { onlyIfDue, note }: { onlyIfDue: boolean; note?: string | undefined },
  ): Promise<RolledKeys | undefined> {
    const { registry, policy } = this.options;
    const stored = await callDependency('Table storage', () => registry.get(tenantId), log);
    if (stored?.record.state !== 'enabled') {
      throw new ProblemError(
        'WritebackDisabled',
        `Password writeback is ${stored?.record.state ?? 'not enabled'} for tenant ${tenantId}; there are no keys to roll.`,
      );
    }
    const start = this.now();
    const record = stored.record;
    if (onlyIfDue) {
      const due = nextRolloverAt(record, policy.periodMs);
      if (!due || due.getTime() > start.getTime()) return undefined;
    }
    const abandoned =
      record.rolling !== undefined &&
      start.getTime() - Date.parse(record.rolling.since) >= ROLLOVER_CLAIM_TIMEOUT_MS;
    if (record.rolling && !abandoned) return undefined;

    const rolloverId = randomUUID();
    let claimed: StoredTenant;
    try {
      claimed = await callDependency(
        'Table storage',
        () =>
          registry.replace(
            {
              ...record,
              rolling: { rolloverId, since: start.toISOString() },
              updatedAt: start.toISOString(),
            },
            stored.etag,
          ),
        log,
      );
    } catch (error) {
      if (error instanceof TenantRowConflict) return undefined;
      throw error;
    }

    const enc = await callDependency(
      'Key Vault',
      () => this.rotate(encryptionKeyName(tenantId)),
      log,
      'rotate key',
    );
    const sig = await callDependency(
      'Key Vault',
      () => this.rotate(signatureKeyName(tenantId)),
      log,
      'rotate key',
    );
    const at = this.now().toISOString();
    const replaced: ReplacedKey[] = [record.encryptionKeyId, record.signatureKeyId]
      .filter((id): id is string => id !== undefined)
      .map((keyId) => ({ keyId, replacedAt: at }));

    const apply = (current: TenantRecord): TenantRecord | undefined => {
      if (current.rolling?.rolloverId !== rolloverId) return undefined;
      const { rolling: _claim, ...rest } = current;
      return {
        ...rest,
        // Ages count from the roll on this clock (Key Vault's createdOn is the same instant, give or
        // take the call), so that every instance, and a test's clock, agrees on when the next is due.
        encryptionKeyId: versionedId(enc),
        encryptionKeyCreatedAt: at,
        ...(enc.properties.expiresOn ? { encryptionKeyExpiresAt: iso(enc.properties.expiresOn) } : {}),
        signatureKeyId: versionedId(sig),
        signatureKeyCreatedAt: at,
        ...(sig.properties.expiresOn ? { signatureKeyExpiresAt: iso(sig.properties.expiresOn) } : {}),
        replacedKeys: [...(current.replacedKeys ?? []), ...replaced],
        keysRolledAt: at,
        pendingCredentials: current.pendingCredentials ?? {
          rolloverId,
          slot: otherSlot(current.agentKeySlot ?? 'primary'),
          since: at,
        },
        updatedAt: at,
      };
    };
    const updated = await this.update(tenantId, claimed, apply, log);
    if (!updated) {
      // The claim was taken over (this instance was too slow); the versions made here stay orphans
      // until the sweep of the instance that holds the claim disables them.
      log?.warn(`Key rollover of tenant ${tenantId} lost its claim; another instance completes it`);
      return undefined;
    }
    if (abandoned) await this.sweep(updated.record, log);

    for (const [kind, before, after] of [
      ['encryption', record.encryptionKeyId, updated.record.encryptionKeyId],
      ['signature', record.signatureKeyId, updated.record.signatureKeyId],
    ] as const) {
      await this.audit(tenantId, reason, actor, kind, before, after, log, 'succeeded', note);
    }
    return {
      rolloverId: updated.record.pendingCredentials?.rolloverId ?? rolloverId,
      encryptionKeyId: updated.record.encryptionKeyId!,
      signatureKeyId: updated.record.signatureKeyId!,
      agentCredentials: 'pending',
    };
  }

  /**
   * Writes the rotation policy, then rotates (one creation, paced). Key Vault answers a throttled
   * creation 429, usually without Retry-After, and the SDK then does not retry it: the pacer holds
   * every creation back for 1, 2, 4, 8, 16 s (Key Vault's advice) and the rotation is tried again.
   */
  private async rotate(name: string): Promise<KeyVaultKey> {
    const { keys, policy, pacer } = this.options;
    await keys.updateKeyRotationPolicy(name, {
      expiresIn: policy.expiresIn,
      lifetimeActions: [{ action: 'Notify', timeBeforeExpiry: policy.notifyBefore }],
    });
    for (let attempt = 0; ; attempt++) {
      await pacer.take();
      try {
        return await keys.rotateKey(name);
      } catch (error) {
        const rest = error as {
          statusCode?: number;
          response?: { headers?: { get(name: string): string | undefined } };
        };
        if (rest.statusCode !== 429 || attempt >= 5) throw error;
        const header = rest.response?.headers?.get('retry-after');
        pacer.throttled(header ? retryAfterMs(header) : 1_000 * 2 ** attempt);
      }
    }
  }

  /**
   * Sends (or sends again) the tenant's pending SAS rollover. `force`: send even if the last send
   * is recent (a manual roll: the agent then also picks up the new signing version at once).
   * A resend goes to the agents still to acknowledge that are still to be seen; when none is left
   * and some acknowledged, the rollover completes. Returns whether a control message went out.
   */
  async followUpCredentials(tenantId: string, log: Logger | undefined, force: boolean): Promise<boolean> {
    const { registry, serviceBus } = this.options;
    const stored = await callDependency('Table storage', () => registry.get(tenantId), log);
    const pending = stored?.record.pendingCredentials;
    if (!stored || stored.record.state !== 'enabled' || !pending) return false;
    const now = this.now();
    let keys: AgentKeys;
    let current = stored;
    if (!pending.sentAt) {
      // No control message can have carried this slot yet, so regenerating it (again) is safe.
      keys = await callDependency(
        'Service Bus',
        () => regenerateAgentKeys(serviceBus, stored.record, pending.slot),
        log,
      );
    } else if (force || now.getTime() - Date.parse(pending.sentAt) >= this.options.messageTtlMs) {
      keys = await callDependency(
        'Service Bus',
        () => readAgentKeys(serviceBus, stored.record, pending.slot),
        log,
      );
    } else {
      return false;
    }
    const acknowledged = pending.acknowledgedBy ?? [];
    const live = await callDependency(
      'Table storage',
      () => this.options.liveAgents?.(tenantId, stored.record.enabledAt) ?? Promise.resolve([]),
      log,
    );
    const agents = live.filter((agentId) => !acknowledged.includes(agentId));
    if (agents.length === 0 && acknowledged.length > 0) {
      // Every agent still to be seen has the new keys; the others went away.
      await this.complete(stored, pending.rolloverId, log);
      return false;
    }
    const marked = await this.update(
      tenantId,
      current,
      (record) =>
        record.pendingCredentials?.rolloverId === pending.rolloverId
          ? {
              ...record,
              pendingCredentials: { ...record.pendingCredentials, sentAt: now.toISOString(), agents },
              updatedAt: now.toISOString(),
            }
          : undefined,
      log,
    );
    if (!marked) return false;
    current = marked;
    const sessions = agents.length > 0 ? agents.map(agentSessionId) : [REQUEST_SESSION_ID];
    await this.sendControlMessage(current.record, pending.rolloverId, keys, sessions, log);
    return true;
  }

  private async sendControlMessage(
    record: TenantRecord,
    rolloverId: string,
    keys: AgentKeys,
    sessions: string[],
    log: Logger | undefined,
  ): Promise<void> {
    if (!record.encryptionKeyId) throw new Error(`tenant ${record.tenantId} has no encryption key`);
    const key = await callDependency(
      'Key Vault',
      () => this.options.encryptionKeys.get(record.encryptionKeyId!),
      log,
    );
    const sealed = sealRequest(
      {
        header: {
          tenantId: record.tenantId,
          operationId: rolloverId,
          expiresAt: new Date(this.now().getTime() + this.options.messageTtlMs),
        },
        payload: { operation: 'credentials', ...keys },
      },
      key,
    );
    for (const session of sessions) {
      await callDependency(
        'Service Bus',
        () =>
          this.options.senders.send(
            record.requestQueue,
            {
              body: sealed.body,
              messageId: sealed.messageId,
              correlationId: rolloverId,
              applicationProperties: sealed.applicationProperties,
              timeToLive: this.options.messageTtlMs,
            },
            session,
          ),
        log,
        'send control message',
      );
    }
  }

  /**
   * An agent's signed acknowledgement of a control message: it works on the new slot. Once every
   * agent still seen (heartbeats, online or on standby) acknowledged, the old slot of both rules is
   * regenerated (whoever held it can no longer connect) and the row records the new slot; an agent
   * seen that has not got the message yet gets it when the timer follows the rollover up. A stale
   * acknowledgement (another rollover, or this one already done) changes nothing.
   */
  async acknowledge(
    tenantId: string,
    rolloverId: string,
    agentId: string,
    log?: Logger,
  ): Promise<AcknowledgeOutcome> {
    const { registry } = this.options;
    const stored = await registry.get(tenantId);
    const pending = stored?.record.pendingCredentials;
    if (!stored || stored.record.state !== 'enabled' || pending?.rolloverId !== rolloverId) return 'stale';
    const acknowledgedBy = [...new Set([...(pending.acknowledgedBy ?? []), agentId])];
    const live = this.options.liveAgents
      ? await this.options.liveAgents(tenantId, stored.record.enabledAt)
      : [];
    if (live.some((agent) => !acknowledgedBy.includes(agent))) {
      const noted = await this.update(
        tenantId,
        stored,
        (record) =>
          record.pendingCredentials?.rolloverId === rolloverId
            ? {
                ...record,
                pendingCredentials: {
                  ...record.pendingCredentials,
                  acknowledgedBy: [
                    ...new Set([...(record.pendingCredentials.acknowledgedBy ?? []), agentId]),
                  ],
                },
                updatedAt: this.now().toISOString(),
              }
            : undefined,
        log,
      );
      return noted ? 'awaiting' : 'stale';
    }
    return this.complete(stored, rolloverId, log);
  }

  /** Retires the old slot of a SAS rollover whose agents all have the new one. */
  private async complete(
    stored: StoredTenant,
    rolloverId: string,
    log?: Logger,
  ): Promise<AcknowledgeOutcome> {
    const { serviceBus } = this.options;
    const tenantId = stored.record.tenantId;
    const pending = stored.record.pendingCredentials!;
    const retired = otherSlot(pending.slot);
    await regenerateAgentKeys(serviceBus, stored.record, retired);
    const at = this.now().toISOString();
    const done = await this.update(
      tenantId,
      stored,
      (record) => {
        if (record.pendingCredentials?.rolloverId !== rolloverId) return undefined;
        const { pendingCredentials: _done, ...rest } = record;
        return { ...rest, agentKeySlot: pending.slot, credentialsRolledAt: at, updatedAt: at };
      },
      log,
    );
    if (!done) return 'stale';
    await this.audit(
      tenantId,
      'manual',
      TIMER_ACTOR,
      'agentCredentials',
      retired,
      pending.slot,
      log,
      'acknowledged',
    );
    return 'acknowledged';
  }

  /** Disables replaced versions whose grace has passed and drops them from the row; returns how many. */
  private async retire(stored: StoredTenant, log: Logger): Promise<number> {
    const { policy } = this.options;
    const now = this.now();
    const keep = new Set(inGrace(stored.record, policy.graceMs, now).map((k) => k.keyId));
    const expired = (stored.record.replacedKeys ?? []).filter((k) => !keep.has(k.keyId));
    if (expired.length === 0) return 0;
    for (const { keyId } of expired)
      await callDependency('Key Vault', () => this.disableVersion(keyId), log, 'disable key version');
    await this.update(
      stored.record.tenantId,
      stored,
      (record) => ({
        ...record,
        replacedKeys: (record.replacedKeys ?? []).filter((k) => !expired.some((e) => e.keyId === k.keyId)),
        updatedAt: now.toISOString(),
      }),
      log,
    );
    return expired.length;
  }

  private async disableVersion(keyId: string): Promise<void> {
    const { name, version } = parseKeyId(keyId);
    try {
      await this.options.keys.updateKeyProperties(name, version, { enabled: false });
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
  }

  /**
   * After taking over an abandoned claim: versions the stopped instance made but never recorded are
   * disabled (every enabled version that is neither current nor in grace).
   */
  private async sweep(record: TenantRecord, log: Logger | undefined): Promise<void> {
    const known = new Set(
      [record.encryptionKeyId, record.signatureKeyId, ...(record.replacedKeys ?? []).map((k) => k.keyId)]
        .filter((id): id is string => id !== undefined)
        .map((id) => parseKeyId(id).version),
    );
    for (const name of [encryptionKeyName(record.tenantId), signatureKeyName(record.tenantId)]) {
      const orphans: string[] = [];
      await callDependency(
        'Key Vault',
        async () => {
          for await (const version of this.options.keys.listPropertiesOfKeyVersions(name)) {
            if (version.enabled !== false && version.version && !known.has(version.version))
              orphans.push(version.version);
          }
        },
        log,
        'list key versions',
      );
      for (const version of orphans) {
        await callDependency(
          'Key Vault',
          () => this.options.keys.updateKeyProperties(name, version, { enabled: false }),
          log,
        );
      }
    }
  }

  /** Applies `change` to the freshest row, ETag-conditionally, a few times; undefined when `change` declines. */
  private async update(
    tenantId: string,
    first: StoredTenant,
    change: (record: TenantRecord) => TenantRecord | undefined,
    log: Logger | undefined,
  ): Promise<StoredTenant | undefined> {
    let stored: StoredTenant | undefined = first;
    for (let attempt = 1; stored; attempt++) {
      const next = change(stored.record);
      if (!next) return undefined;
      try {
        const etag = stored.etag;
        return await callDependency('Table storage', () => this.options.registry.replace(next, etag), log);
      } catch (error) {
        if (!(error instanceof TenantRowConflict) || attempt >= 5) throw error;
      }
      stored = await callDependency('Table storage', () => this.options.registry.get(tenantId), log);
    }
    return undefined;
  }

  /** One audit row and one telemetry event per key rolled; never key material (ids and slots only). */
  private async audit(
    tenantId: string,
    reason: RolloverReason,
    actor: Actor,
    key: 'encryption' | 'signature' | 'agentCredentials',
    before: string | undefined,
    after: string | undefined,
    log: Logger | undefined,
    outcome = 'succeeded',
    note?: string,
  ): Promise<void> {
    telemetryIfConfigured().trackEvent('writeback.keys.rolled', { tenantId, key, reason, outcome });
    try {
      await this.options.audit.record({
        tenantId,
        action: 'KeyRolledOver',
        actor,
        target: `tenants/${tenantId}/writeback/keys/${key}`,
        outcome: 'succeeded',
        reason,
        at: this.now(),
        ...(before ? { previousVersion: versionOf(before) } : {}),
        ...(after ? { newVersion: versionOf(after) } : {}),
        ...(note ? { note } : {}),
      });
    } catch (error) {
      log?.warn(`Audit of the ${key} rollover of tenant ${tenantId} was not written: ${describe(error)}`);
    }
  }
}

/** A key version from a versioned id; SAS slots (`primary`/`secondary`) are kept as they are. */
function versionOf(id: string): string {
  try {
    return parseKeyId(id).version;
  } catch {
    return id;
  }
}

function describe(error: unknown): string {
  const e = error as { name?: string; message?: string; statusCode?: number };
  return `${e?.name ?? 'Error'}${e?.statusCode ? ` (HTTP ${e.statusCode})` : ''}: ${e?.message ?? String(error)}`;
}

let instance: KeyRollover | undefined;

/** The process-wide KeyRollover: clients are built once per instance. */
export function keyRollover(): KeyRollover {
  instance ??= KeyRollover.fromSettings();
  return instance;
}
