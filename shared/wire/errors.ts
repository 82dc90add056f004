/**
 * Errors of the wire contract. Their messages say what is wrong with a message, never what it
 * holds: no password, no key material, no plaintext, no ciphertext. They are not ProblemErrors:
 * no HTTP caller ever sees them directly (the agent answers with an outcome, the replies function
 * drops and logs).
 */

/** Why a request envelope was refused. */
export type EnvelopeFailure =
  /** sealRequest: an input the envelope cannot carry (bad tenant, id, key, password encoding…). */
  | 'invalidInput'
  /** Structure: a length, a field value or the size of the body is wrong. */
  | 'malformed'
  /** The format version byte is not one this code reads. */
  | 'unsupportedVersion'
  /** The header in the body and the message's application properties disagree. */
  | 'headerMismatch'
  /** unwrapKey failed (tampered `ek`, unknown or disabled key version, Key Vault unreachable); see `cause`. */
  | 'unwrapFailed'
  /** The AES-GCM tag does not verify: the header, IV, ciphertext or tag was altered. */
  | 'integrity'
  /** decrypt of the password block failed; see `cause`. */
  | 'decryptFailed';

export class EnvelopeError extends Error {
  readonly reason: EnvelopeFailure;

  constructor(reason: EnvelopeFailure, detail: string, options?: ErrorOptions) {
    super(`Request envelope refused (${reason}): ${detail}`, options);
    this.name = 'EnvelopeError';
    this.reason = reason;
  }
}

/**
 * An authentic request whose expiry has passed (Service Bus does not enforce TTL while nobody
 * listens). The agent answers the operation with `WritebackExpired` and completes the message.
 */
export class RequestExpiredError extends Error {
  readonly tenantId: string;
  readonly operationId: string;
  readonly expiresAt: Date;

  constructor(tenantId: string, operationId: string, expiresAt: Date) {
    super(`Request ${operationId} of tenant ${tenantId} expired at ${expiresAt.toISOString()}`);
    this.name = 'RequestExpiredError';
    this.tenantId = tenantId;
    this.operationId = operationId;
    this.expiresAt = expiresAt;
  }
}

/** Why a reply (result or heartbeat) was refused. */
export type ReplyFailure =
  /** Not a compact JWS, bad encoding, unknown `typ`, or a payload that fails the schema. */
  | 'malformed'
  /** `alg: none` or an empty signature. */
  | 'unsigned'
  /** Any algorithm but ES256 (HS256, RS256, …). */
  | 'wrongAlgorithm'
  /** `kid` missing, not a versioned key id, or not a `writeback-{t}-sig` key. */
  | 'wrongKey'
  /** The key resolver could not produce the public key of `kid`; see `cause`. */
  | 'unknownKey'
  /** The signature does not verify with the key named by `kid`. */
  | 'badSignature'
  /** The tenant inside the payload is not the tenant whose key signed it. */
  | 'wrongTenant'
  /** Past `exp`, older than the verifier accepts, or issued in the future. */
  | 'expired';

export class ReplyError extends Error {
  readonly reason: ReplyFailure;

  constructor(reason: ReplyFailure, detail: string, options?: ErrorOptions) {
    super(`Reply refused (${reason}): ${detail}`, options);
    this.name = 'ReplyError';
    this.reason = reason;
  }
}
