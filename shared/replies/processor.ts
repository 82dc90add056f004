/**
 * What the replies function does with one message of `writeback-replies` (docs/wire.md): verify the
 * compact JWS (ES256) with the signing tenant's cached `-sig` public key, check that the tenant is
 * enabled, then record a heartbeat in `heartbeats`, or a result on its operation in `operations`.
 *
 * A reply that can never become valid (unsigned, wrongly signed, another tenant's key, expired,
 * malformed, a tenant that is not enabled) is dropped: the function returns, the host completes the
 * message, and a warning says why, without the message's content. A fault that may pass (Table
 * storage or Key Vault unreachable) throws, so the host abandons the message and the broker
 * redelivers it (and dead-letters it after the queue's max delivery count).
 *
 * A result is recorded on its operation once (shared/operations): a duplicate or late result changes
 * nothing, and a result naming an operation its tenant does not have (another tenant's, or none) is
 * dropped. Recording it also wakes the HTTP call waiting for it, if that call is on this instance.
 */
import { withinBudget } from '../domain/index.js';
import { loadSettings, settings as loadedSettings, type Environment } from '../config/index.js';
import { keyClientFromSettings } from '../azure/index.js';
import { heartbeatMonitor, type HeartbeatMonitor } from '../heartbeats/index.js';
import { HeartbeatStore } from '../heartbeats/index.js';
import { TenantRegistry, type StoredTenant } from '../tenants/index.js';
import {
  parseKeyId,
  ReplyError,
  tenantOfKeyName,
  traceparentOf,
  verifyReply,
  type VerifiedReply,
} from '../wire/index.js';
import { KeyRollover, keyRollover } from '../rollover/index.js';
import { acceptsSigningKey, rolloverPolicy } from '../rollover/index.js';
import { telemetry, type Telemetry } from '../telemetry/index.js';
import { writebackOperations, type WritebackOperations } from '../operations/index.js';
import { isTransientKeyFailure, SignatureKeys, UnusableSignatureKey } from './signature-keys.js';
import type { Logger } from '../domain/index.js';

/** How long handling one reply may take, every dependency call included. */
export const REPLY_BUDGET_MS = 20_000;

/** What became of a reply. */
export type ReplyDisposition =
  | { outcome: 'recorded'; kind: 'heartbeat'; tenantId: string }
  /** A heartbeat older than the agent's stored one. */
  | { outcome: 'older'; kind: 'heartbeat'; tenantId: string }
  | { outcome: 'recorded'; kind: 'result'; tenantId: string; operationId: string }
  /** A duplicate or late result: the operation had already ended. */
  | { outcome: 'ignored'; kind: 'result'; tenantId: string; operationId: string }
  /** A key rollover's acknowledgement: the old SAS keys are retired, other agents are awaited, or it was stale. */
  | {
      outcome: 'acknowledged' | 'awaiting' | 'stale';
      kind: 'credentialsAck';
      tenantId: string;
      rolloverId: string;
    }
  | { outcome: 'dropped'; reason: string };

export interface ReplyProcessorOptions {
  keys: SignatureKeys;
  registry: TenantRegistry;
  heartbeats: HeartbeatStore;
  /** Records results on their operations. */
  operations: Pick<WritebackOperations, 'recordResult'>;
  /** Takes the agent's acknowledgements of new SAS keys. */
  rollover: Pick<KeyRollover, 'acknowledge'>;
  /** How long a replaced `-sig` version still verifies (the rollover's grace). */
  graceMs: number;
  telemetry?: Pick<Telemetry, 'trackRequest'>;
  /** Told when a heartbeat is recorded, so this instance's cached rows are not stale. */
  monitor?: Pick<HeartbeatMonitor, 'forget'>;
  now?: () => Date;
}

/** Non-secret facts about the message, for the log line of a dropped reply. */
function describeMessage(metadata: Record<string, unknown> | undefined): string {
  const properties = (metadata?.applicationProperties ?? {}) as Record<string, unknown>;
  const text = (value: unknown) =>
    typeof value === 'string' || typeof value === 'number' ? String(value) : '-';
  return (
    `messageId=${text(metadata?.messageId)} deliveryCount=${text(metadata?.deliveryCount)} ` +
    `replyType=${text(properties.replyType)} tenantId=${text(properties.tenantId)}`
  );
}

export class ReplyProcessor {
  private readonly now: () => Date;

  constructor(private readonly options: ReplyProcessorOptions) {
    this.now = options.now ?? (() => new Date());
  }

  static fromSettings(
    env: Environment = process.env,
    monitor?: Pick<HeartbeatMonitor, 'forget'>,
    operations: Pick<WritebackOperations, 'recordResult'> = writebackOperations(),
    rollover: Pick<KeyRollover, 'acknowledge'> = env === process.env
      ? keyRollover()
      : KeyRollover.fromSettings(env),
  ): ReplyProcessor {
    const appSettings = env === process.env ? loadedSettings() : loadSettings(env);
    return new ReplyProcessor({
      rollover,
      graceMs: rolloverPolicy(appSettings).graceMs,
      keys: new SignatureKeys(keyClientFromSettings(env), appSettings.keyVaultUri),
      registry: TenantRegistry.fromSettings(env),
      heartbeats: HeartbeatStore.fromSettings(env),
      operations,
      telemetry: telemetry(),
      ...(monitor ? { monitor } : {}),
    });
  }

  /** Handles one message body; throws only for faults worth a redelivery. Reported as a `replies` request. */
  handle(
    body: unknown,
    metadata: Record<string, unknown> | undefined,
    log: Logger,
  ): Promise<ReplyDisposition> {
    // Done well inside the replies queue's 30 s lock, so a stalled dependency fails the delivery (it is
    // redelivered) instead of the lock lapsing under a handler that is still running.
    return withinBudget(REPLY_BUDGET_MS, () => this.handleWithinBudget(body, metadata, log));
  }

  private async handleWithinBudget(
    body: unknown,
    metadata: Record<string, unknown> | undefined,
    log: Logger,
  ): Promise<ReplyDisposition> {
    const started = performance.now();
    const properties = (metadata?.applicationProperties ?? {}) as Record<string, unknown>;
    const traceparent = traceparentOf(properties.traceparent);
    const report = (resultCode: number, disposition?: ReplyDisposition) =>
      this.options.telemetry?.trackRequest({
        name: 'replies',
        resultCode,
        durationMs: performance.now() - started,
        success: resultCode < 500,
        ...(disposition && 'operationId' in disposition ? { operationId: disposition.operationId } : {}),
        ...(traceparent ? { traceparent } : {}),
        properties: {
          replyType: typeof properties.replyType === 'string' ? properties.replyType : undefined,
          outcome: disposition?.outcome,
        },
      });
    try {
      const disposition = await this.process(body, metadata, log);
      report(200, disposition);
      return disposition;
    } catch (error) {
      report(500);
      throw error;
    }
  }

  private async process(
    body: unknown,
    metadata: Record<string, unknown> | undefined,
    log: Logger,
  ): Promise<ReplyDisposition> {
    const drop = (reason: string, detail: string): ReplyDisposition => {
      log.warn(`Reply dropped (${reason}): ${detail}; ${describeMessage(metadata)}`);
      return { outcome: 'dropped', reason };
    };

    // The tenant's row is read first (from the kid), so that only its current signing version, or
    // a replaced one in grace, is ever looked up in Key Vault.
    let stored: StoredTenant | undefined;
    let tableFault: unknown;
    const resolve = async (kid: string) => {
      const keyTenant = tenantOfKeyName(parseKeyId(kid).name, 'sig');
      const { registry } = this.options;
      try {
        stored = keyTenant ? await registry.recent(keyTenant) : undefined;
        // A version the cached row does not know may be newer than the cache: ask the table once.
        if (keyTenant && stored && !acceptsSigningKey(stored.record, kid, this.options.graceMs, this.now())) {
          registry.forget(keyTenant);
          stored = await registry.recent(keyTenant);
        }
      } catch (error) {
        tableFault = error;
        throw error;
      }
      if (!stored)
        throw new UnusableSignatureKey(`tenant ${keyTenant ?? '?'} has no writeback configuration`);
      if (!acceptsSigningKey(stored.record, kid, this.options.graceMs, this.now())) {
        throw new UnusableSignatureKey('the key version is not current nor in its rollover grace');
      }
      return this.options.keys.resolve(kid);
    };
    let reply: VerifiedReply;
    try {
      reply = await verifyReply(body, resolve, { now: this.now() });
    } catch (error) {
      if (!(error instanceof ReplyError)) throw error;
      // Table storage could not say which versions count: a fault that passes (redelivered).
      if (tableFault !== undefined) throw tableFault;
      if (error.reason === 'unknownKey' && isTransientKeyFailure(error.cause)) {
        const cause = error.cause as { name?: string; statusCode?: number; code?: string };
        throw new Error(
          `Key Vault could not provide the reply's public key (${cause.name ?? 'Error'}` +
            `${cause.statusCode ? ` HTTP ${cause.statusCode}` : ''}${cause.code ? ` ${cause.code}` : ''}); ` +
            'the message is abandoned and will be redelivered',
          { cause: error },
        );
      }
      const why =
        error.reason === 'unknownKey' && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      // The ReplyError's message repeats the reason in front; the log line says it once.
      const detail = error.message.replace(/^Reply refused \([^)]*\): /, '');
      return drop(error.reason, `${detail}${why}`);
    }

    const tenantId =
      reply.kind === 'result'
        ? reply.result.tenantId
        : reply.kind === 'heartbeat'
          ? reply.heartbeat.tenantId
          : reply.credentialsAck.tenantId;
    const state = stored?.record.state;
    // An operation accepted before a disable may still finish; nothing else of a tenant that is not
    // enabled counts (its agent's credentials are revoked or being revoked).
    const accepted = state === 'enabled' || (reply.kind === 'result' && state === 'disabling');
    if (!accepted) {
      return drop('tenantNotEnabled', `tenant ${tenantId} is ${state ?? 'not enabled'} (key ${reply.keyId})`);
    }

    if (reply.kind === 'credentialsAck') {
      const { rolloverId, agentId } = reply.credentialsAck;
      const outcome = await this.options.rollover.acknowledge(tenantId, rolloverId, agentId, log);
      const what =
        outcome === 'acknowledged'
          ? 'taken: the old SAS keys are retired'
          : outcome === 'awaiting'
            ? "taken; the tenant's other agents have yet to acknowledge"
            : 'ignored (stale)';
      log.log(
        `Credentials acknowledgement ${what}: tenant ${tenantId}, agent ${agentId}, rollover ${rolloverId}`,
      );
      return { outcome, kind: 'credentialsAck', tenantId, rolloverId };
    }
    if (reply.kind === 'heartbeat') {
      const { heartbeat } = reply;
      const written = await this.options.heartbeats.record(heartbeat, reply.keyId, this.now());
      this.options.monitor?.forget(tenantId);
      log.log(
        `Heartbeat ${written === 'recorded' ? 'recorded' : 'ignored (older than the stored one)'}: ` +
          `tenant ${tenantId}, agent ${heartbeat.agentId} ${heartbeat.agentVersion}, ${heartbeat.state}, ` +
          `signed at ${heartbeat.now.toISOString()}`,
      );
      return { outcome: written, kind: 'heartbeat', tenantId };
    }
    const { result } = reply;
    const write = await this.options.operations.recordResult(result, log);
    const what =
      `tenant ${tenantId}, operation ${result.operationId}, outcome ${result.outcome}` +
      `${result.reason ? ` (${result.reason})` : ''}, finished at ${result.finishedAt.toISOString()}`;
    if (write.outcome === 'unknown') {
      return drop('unknownOperation', `${what}: the tenant has no such operation`);
    }
    if (write.outcome === 'final') {
      log.warn(`Result ignored (the operation had already ended as ${write.record.state}): ${what}`);
      return { outcome: 'ignored', kind: 'result', tenantId, operationId: result.operationId };
    }
    log.log(`Result recorded: ${what}`);
    return { outcome: 'recorded', kind: 'result', tenantId, operationId: result.operationId };
  }
}

let instance: ReplyProcessor | undefined;

/** The process-wide processor: one key cache per instance, shared with this instance's heartbeat monitor. */
export function replyProcessor(): ReplyProcessor {
  instance ??= ReplyProcessor.fromSettings(process.env, heartbeatMonitor());
  return instance;
}
