/**
 * Signs the exactly-once record before it goes into the request session's state, and checks it when an
 * agent takes the session (shared/wire/record-seal.ts): through Key Vault with the tenant's signing key,
 * each call with a deadline and its outcome told to the dependency health. A state that is not this
 * tenant's signed record is not trusted: the agent starts from an empty record and says so (error,
 * `recordNotTrusted`); one that cannot be checked now (Key Vault unreachable) keeps the session from being
 * taken until it can.
 */
import { isTransientKeyVaultError, type KeyVaultReplySigner } from '../shared/azure/index.js';
import { openRecord, ReplyError, sealRecord } from '../shared/wire/index.js';
import { DeadlineExceededError, withDeadline } from './deadline.js';
import type { DependencyHealth } from './dependency-health.js';
import type { AgentLogger } from './log.js';
import type { RecordSeal } from './session-lease.js';
import { signReply } from './worker.js';

export class RecordSigning implements RecordSeal {
  constructor(
    private readonly tenantId: string,
    private readonly signer: KeyVaultReplySigner,
    private readonly health: DependencyHealth,
    private readonly log: AgentLogger,
    private readonly deadlineMs: number,
  ) {}

  async seal(record: Buffer): Promise<Buffer> {
    const content = JSON.parse(record.toString('utf8')) as object;
    try {
      const jws = await withDeadline('signing the record', this.deadlineMs, () =>
        signReply(this.signer, () => sealRecord(this.tenantId, content, this.signer)),
      );
      this.health.ok('keyVault');
      return Buffer.from(jws, 'utf8');
    } catch (error) {
      this.health.failed('keyVault', 'signing the record', error);
      throw error;
    }
  }

  async open(state: unknown): Promise<unknown> {
    if (state === undefined || state === null) return undefined;
    try {
      const record = await withDeadline('verifying the record', this.deadlineMs, () =>
        openRecord(state, this.tenantId, (kid) => this.signer.verificationKey(kid)),
      );
      this.health.ok('keyVault');
      return record;
    } catch (error) {
      const transient =
        error instanceof DeadlineExceededError ||
        (error instanceof ReplyError &&
          error.reason === 'unknownKey' &&
          isTransientKeyVaultError(error.cause));
      if (transient) {
        this.health.failed('keyVault', 'verifying the record', error);
        throw error;
      }
      this.log.error("the request session's state is not this tenant's signed record: not trusted", {
        event: 'recordNotTrusted',
        reason: error instanceof ReplyError ? error.reason : 'malformed',
      });
      return undefined;
    }
  }
}
