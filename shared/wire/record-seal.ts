/**
 * The agents' exactly-once record as the request session's state holds it (docs/wire.md, "The request
 * session's state"): a compact JWS, ES256, type `writeback-record+jwt`, signed through Key Vault with the
 * tenant's `writeback-{t}-sig` key like a reply. The Listen right that lets an agent write session state
 * is a shared secret kept on agents' machines; the signature means that whoever holds only that right
 * cannot forge an outcome the agent would then answer (docs/security.md).
 *
 * No expiry: a record is as old as its last write, and its entries expire by themselves.
 */
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { ReplyError } from './errors.js';
import {
  REPLY_ALGORITHM,
  signClaims,
  signingKeyOf,
  signingTenantOf,
  type ReplyKeyResolver,
  type ReplySigner,
} from './replies.js';

export const RECORD_TYPE = 'writeback-record+jwt';

/** Signs `record` (a JSON object) as tenant `tenantId`'s record, issued at `now`. */
export function sealRecord(
  tenantId: string,
  record: object,
  signer: ReplySigner,
  now: Date = new Date(),
): Promise<string> {
  return signClaims(RECORD_TYPE, { tenantId, record, iat: Math.floor(now.getTime() / 1000) }, signer);
}

/**
 * Verifies a sealed record of `tenantId` and returns its content. Refuses, with a ReplyError saying
 * why: anything but a compact JWS of this type with alg ES256; a `kid` that is not a versioned
 * `writeback-{tenantId}-sig` key (`wrongKey`); a key the resolver cannot provide (`unknownKey`, the
 * resolver's error as its cause); a bad signature; another tenant in the payload.
 */
export async function openRecord(
  sealed: unknown,
  tenantId: string,
  resolveKey: ReplyKeyResolver,
): Promise<unknown> {
  const token =
    typeof sealed === 'string'
      ? sealed
      : sealed instanceof Uint8Array
        ? Buffer.from(sealed).toString('utf8')
        : undefined;
  if (token === undefined || token.split('.').length !== 3)
    throw new ReplyError('malformed', 'not a compact JWS');
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new ReplyError('malformed', 'the protected header does not decode');
  }
  if (header.alg !== REPLY_ALGORITHM) throw new ReplyError('wrongAlgorithm', 'only ES256 is accepted');
  if (header.typ !== RECORD_TYPE) throw new ReplyError('malformed', 'not a record');
  const kid = header.kid;
  if (typeof kid !== 'string' || signingTenantOf(kid) !== tenantId) {
    throw new ReplyError('wrongKey', `kid is not a versioned writeback-${tenantId}-sig key id`);
  }
  const key = await signingKeyOf(kid, resolveKey);
  let payload;
  try {
    ({ payload } = await jwtVerify(token, key, { algorithms: [REPLY_ALGORITHM], typ: RECORD_TYPE }));
  } catch {
    throw new ReplyError('badSignature', 'the record does not verify');
  }
  if (payload['tenantId'] !== tenantId) throw new ReplyError('wrongTenant', 'a record of another tenant');
  return payload['record'];
}
