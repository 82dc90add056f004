/**
 * A key rollover's control message, taken without a restart (README, "Key rollover"): the new SAS
 * keys are verified on short-lived clients, stored where the configuration got them, and a new
 * connection generation built on them becomes current once it answers; the request session then
 * moves to it (after the control message itself is completed on the old one) and the old
 * generation closes once its messages and sends have settled (service-bus-link.ts). The
 * acknowledgement goes out on the new sender, signed with the signature key's latest version, so
 * it proves the new Send key. Rollovers run one at a time; a control message whose keys are those
 * in use (redelivered, or sent again) is acknowledged again and changes nothing.
 */
import { randomUUID } from 'node:crypto';
import type { ServiceBusClientOptions } from '@azure/service-bus';
import {
  signCredentialsAck,
  type CredentialsRequest,
  type ReplySigner,
  type RequestHeader,
} from '../shared/wire/index.js';
import { BusConnection, withSharedAccessKey, type Queues } from './bus-connection.js';
import type { ConnectionStringField } from './config.js';
import type { CredentialsStore, Persisted } from './credentials-store.js';
import { withDeadline } from './deadline.js';
import type { KeyVersionWatch } from './key-version-watch.js';
import { describeError, type AgentLogger } from './log.js';
import type { ServiceBusLink } from './service-bus-link.js';
import { signReply } from './worker.js';

const FIELD_OF = { requests: 'requestsConnectionString', replies: 'repliesConnectionString' } as const;

export interface CredentialsRolloverOptions {
  tenantId: string;
  agentId: string;
  queues: Queues;
  clientOptions: ServiceBusClientOptions;
  link: ServiceBusLink;
  store: CredentialsStore;
  signer: ReplySigner;
  keyWatch: KeyVersionWatch;
  log: AgentLogger;
  deadlines: { serviceBusMs: number; keyVaultMs: number };
  /** Whether the agent is stopping (a roll then does not start a new connection). */
  stopping: () => boolean;
  now: () => Date;
}

/** What a log line may say about where a new connection string went (paths, never values). */
function describePersisted(p: Persisted): Record<string, unknown> {
  return p.to === 'stateDirectory'
    ? {
        field: `serviceBus.${p.field}`,
        to: p.to,
        path: p.path,
        reason: p.reason,
        ...(p.env ? { env: p.env } : {}),
        ...(p.configuredPath ? { configuredPath: p.configuredPath } : {}),
        ...(p.code ? { code: p.code } : {}),
      }
    : { field: `serviceBus.${p.field}`, to: p.to, path: p.path };
}

/** The operator's instruction when a new connection string could not go where the configuration reads it. */
function notPersistedMessage(p: Persisted & { to: 'stateDirectory' }): string {
  const field = `serviceBus.${p.field}`;
  const where =
    p.reason === 'environment'
      ? `it comes from environment variable ${p.env}, which the agent cannot rewrite`
      : p.reason === 'notInAFile'
        ? 'the configuration was not read from a file'
        : `${p.configuredPath} could not be written`;
  return (
    `key rollover: the new ${field} could not be stored where the configuration reads it (${where}); ` +
    `it is in ${p.path}. Before the next restart, ` +
    (p.env ? `set ${p.env} to the content of that file, or ` : '') +
    `point ${field} at { "file": "${p.path}" }; the old key stops working once the cloud retires it`
  );
}

export class CredentialsRollover {
  private rolling: Promise<unknown> = Promise.resolve();
  private rolledAt: Date | undefined;

  constructor(private readonly options: CredentialsRolloverOptions) {}

  /** When this process last took new keys (undefined: not since it started). */
  get lastRolledAt(): Date | undefined {
    return this.rolledAt;
  }

  /** Takes a control message's keys; one rollover at a time. Throws what failed (the message is retried). */
  take(credentials: CredentialsRequest, header: RequestHeader): Promise<void> {
    const run = this.rolling.then(() => this.roll(credentials, header));
    this.rolling = run.catch(() => undefined);
    return run;
  }

  /** Says again, at start, what a rollover left for the operator to do. */
  async remindPending(current: { requests: string; replies: string }): Promise<void> {
    for (const p of await this.options.store.pending({
      requestsConnectionString: current.requests,
      repliesConnectionString: current.replies,
    })) {
      this.options.log.warn(
        `serviceBus.${p.field} comes from environment variable ${p.env}, but a key rollover left a newer ` +
          `value in ${p.path}: set ${p.env} to the content of that file, or point the configuration at it`,
        { event: 'credentialsPending', ...describePersisted(p) },
      );
    }
  }

  private async roll(credentials: CredentialsRequest, header: RequestHeader): Promise<void> {
    const { link, log, store, queues, clientOptions, deadlines } = this.options;
    const rolloverId = header.operationId;
    const current = link.current.strings;
    let strings: { requests: string; replies: string };
    try {
      strings = {
        requests: withSharedAccessKey(current.requests, credentials.listenKey),
        replies: withSharedAccessKey(current.replies, credentials.sendKey),
      };
    } catch (error) {
      log.warn('new credentials not taken: the agent keeps its connection', {
        event: 'credentialsRefused',
        rolloverId,
        step: 'building the new connection strings',
        error: describeError(error),
      });
      throw error;
    }
    const changed = (['requests', 'replies'] as const).filter((k) => strings[k] !== current[k]);
    if (changed.length === 0) {
      // A redelivered or re-sent control message: this connection already uses these keys.
      log.info('credentials already in use', { event: 'credentialsUnchanged', rolloverId });
      await this.acknowledge(header);
      return;
    }
    if (this.options.stopping()) throw new Error('the agent is stopping');

    let next: BusConnection | undefined;
    let persisted: Persisted[];
    let step = 'verifying the new keys';
    try {
      await BusConnection.verify(strings, queues, clientOptions, deadlines.serviceBusMs);
      step = 'storing the new connection strings';
      const values: Partial<Record<ConnectionStringField, string>> = {};
      for (const k of changed) values[FIELD_OF[k]] = strings[k];
      persisted = await store.save(values);
      if (this.options.stopping()) throw new Error('the agent is stopping');
      step = 'connecting with the new keys';
      next = link.build(strings);
      await next.probe(deadlines.serviceBusMs);
      if (this.options.stopping()) throw new Error('the agent is stopping');
    } catch (error) {
      log.warn('new credentials not taken: the agent keeps its connection', {
        event: 'credentialsRefused',
        rolloverId,
        step,
        error: describeError(error),
      });
      void next?.close(deadlines.serviceBusMs);
      throw error;
    }

    // Switch: replies and heartbeats go out on the new sender; the request session follows once this
    // control message is completed on the receiver that delivered it.
    link.replace(next, 'credentials');
    this.rolledAt = this.options.now();
    for (const p of persisted) {
      if (p.to === 'stateDirectory') {
        log.warn(notPersistedMessage(p), {
          event: 'credentialsNotPersisted',
          rolloverId,
          ...describePersisted(p),
        });
      }
    }
    log.info('credentials rolled', {
      event: 'credentialsRolled',
      rolloverId,
      changed: changed.map((k) => `serviceBus.${FIELD_OF[k]}`),
      persisted: persisted.map(describePersisted),
      generation: next.generation,
    });
    // A rollover rotates -sig as well: sign the acknowledgement with the new version.
    await this.options.keyWatch.refresh();
    await this.acknowledge(header);
  }

  private async acknowledge(header: RequestHeader): Promise<void> {
    const { signer, link, log, tenantId, agentId, deadlines } = this.options;
    const jws = await withDeadline('signing an acknowledgement', deadlines.keyVaultMs, () =>
      signReply(signer, () =>
        signCredentialsAck(
          { tenantId, rolloverId: header.operationId, agentId, acknowledgedAt: this.options.now() },
          signer,
        ),
      ),
    );
    await link.send(
      {
        body: jws,
        messageId: randomUUID(),
        correlationId: header.operationId,
        contentType: 'application/jose',
        applicationProperties: { replyType: 'credentialsAck', tenantId },
      },
      'sending a credentials acknowledgement',
    );
    log.info('credentials acknowledged', {
      event: 'credentialsAcknowledged',
      rolloverId: header.operationId,
      kid: signer.kid,
    });
  }
}
