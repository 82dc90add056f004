/**
 * The request envelope (docs/wire.md): the cloud seals a writeback request with the tenant's
 * public `writeback-{t}-enc` key; the agent opens it through Key Vault, so the private key never
 * leaves the vault. Pure code: no Azure call of its own; Key Vault sits behind `RequestKeyVault`.
 *
 * Layout, format version 1 (integers big-endian; M = RSA modulus length in bytes, 256 for RSA-2048):
 *
 *   header (also the GCM additional authenticated data, and mirrored in application properties)
 *     u8        format version = 1
 *     u8 + T    tenant id, ASCII, 1..63 bytes
 *     16        operation id (a UUID, its 16 bytes)
 *     u48       expiry, Unix milliseconds
 *     16        key version of writeback-{t}-enc (Key Vault's 32 hex digits, as 16 bytes)
 *   u16 + M     ek = RSA-OAEP-256(K) under that key version, K a fresh AES-256 key
 *   12          IV, random
 *   ...         AES-256-GCM(K, IV, aad = header) of the payload
 *   16          GCM tag
 *
 *   payload (plaintext of the GCM layer)
 *     u8        operation: 1 reset, 2 change, 3 unlock, 4 credentials (a control message)
 *     u8        flags: bit 0 forceChangeAtNextLogon, bit 1 unlock (reset only; others 0)
 *     u8        user identifier kind: 1 sid, 2 upn; 0 (none) for credentials, and only for it
 *     u16 + U   user identifier, UTF-8, 1..1024 bytes (0 bytes for credentials)
 *     n × M     the password block: RSA-OAEP-256 under the same key version, in chunks of at most
 *               M − 66 bytes each (RFC 8017 §7.1.1 with SHA-256); n = 0 for unlock
 *
 *   password block (plaintext of the RSA layer)
 *     reset:    u16 + newPassword (UTF-8)
 *     change:   u16 + currentPassword, u16 + newPassword (UTF-8)
 *     credentials: u16 + listenKey, u16 + sendKey (ASCII): the agent's new SAS keys during a key
 *               rollover, for its Listen rule on `writeback-{t}` and its Send rule on the replies
 *               queue. A control message is sealed exactly like a password: only the agent,
 *               through Key Vault, can read the keys.
 *
 * The message: body as above; messageId = the operation id; application properties
 * envelopeVersion, tenantId, keyVersion, expiresAt (the header again, without personal data).
 *
 * Why these choices:
 * - The key *version* is carried, not the whole key id: the vault and the key name follow from
 *   configuration and the tenant (`writeback-{t}-enc`), which saves ~100 bytes twice (body and
 *   application properties) and means a message can never steer the agent to another vault.
 * - The operation id is mirrored by messageId, not by a second application property.
 * - The passwords of one request are RSA-encrypted together (one 256-byte block while they take
 *   ≤ 190 bytes together) instead of one block per password: a change with one block per
 *   password needs 3 × 256 bytes of RSA alone, which leaves too little of the 1 KB for the rest,
 *   and costs the agent one more Key Vault call. A password is still encrypted twice (RSA, then
 *   GCM over the whole payload).
 * - Expiry has millisecond precision so that what is sealed is exactly what is opened.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import type { ResetFlags, UserIdentifier } from '../domain/index.js';
import { ByteWriter } from './binary.js';
import { EnvelopeError, RequestExpiredError } from './errors.js';
import { encryptionKeyName, formatKeyId, parseKeyId, tenantOfKeyName } from './names.js';
import {
  CONTENT_KEY_BYTES,
  ENVELOPE_VERSION,
  FLAG_FORCE_CHANGE,
  FLAG_UNLOCK,
  Header,
  IV_BYTES,
  KEY_VERSION,
  MODULUS_BYTES,
  NO_USER,
  OPERATION_CODE,
  Payload,
  type RequestHeader,
  type RequestMessage,
  type RequestProperties,
  SAS_KEY,
  TAG_BYTES,
  USER_KIND_CODE,
  checkMessage,
  describeIssues,
  encodeHeader,
  flagsOf,
  parseBody,
  parsePasswords,
  parsePayload,
  passwordsOf,
  propertiesOf,
} from './request-format.js';

export {
  ENVELOPE_VERSION,
  MAX_PASSWORD_BYTES,
  MAX_USER_BYTES,
  readRequestHeader,
  type RequestHeader,
  type RequestMessage,
  type RequestProperties,
} from './request-format.js';

export const KEY_ENCRYPTION_ALGORITHM = 'RSA-OAEP-256';
export type KeyEncryptionAlgorithm = typeof KEY_ENCRYPTION_ALGORITHM;
/** RSA-OAEP with SHA-256 takes at most k − 2·32 − 2 bytes per block (RFC 8017 §7.1.1). */
const OAEP_SHA256_OVERHEAD = 66;

export type WritebackRequest =
  | { operation: 'reset'; user: UserIdentifier; newPassword: string; flags?: ResetFlags }
  | { operation: 'change'; user: UserIdentifier; currentPassword: string; newPassword: string }
  | { operation: 'unlock'; user: UserIdentifier };

/** What the agent gets back: reset flags are always both present. */
export type OpenedWritebackRequest =
  | { operation: 'reset'; user: UserIdentifier; newPassword: string; flags: Required<ResetFlags> }
  | { operation: 'change'; user: UserIdentifier; currentPassword: string; newPassword: string }
  | { operation: 'unlock'; user: UserIdentifier };

/**
 * A control message of a key rollover: the SAS keys the agent is to use from now on, for its two
 * rules (names unchanged). Its operation id is the rollover's id; the agent answers it with a
 * signed credentials acknowledgement once it works on the new keys.
 */
export interface CredentialsRequest {
  operation: 'credentials';
  listenKey: string;
  sendKey: string;
}

export interface RequestToSeal {
  header: { tenantId: string; operationId: string; expiresAt: Date };
  payload: WritebackRequest | CredentialsRequest;
}

export interface OpenedRequest {
  header: RequestHeader;
  payload: OpenedWritebackRequest | CredentialsRequest;
}

/**
 * The public part of one version of a tenant's `writeback-{t}-enc` key, parsed once. Build it with
 * {@link importEncryptionKey} and cache it per version: sealing then needs no Key Vault call.
 */
export interface EncryptionKey {
  readonly keyId: string;
  readonly tenantId: string;
  readonly version: string;
  readonly publicKey: KeyObject;
  readonly modulusBytes: number;
}

/** A public RSA JWK as `KeyClient.getKey(...).key` returns it (bytes) or as plain JSON (base64url). */
export interface PublicRsaJwk {
  kid?: string;
  kty?: string;
  n?: Uint8Array | string;
  e?: Uint8Array | string;
}

/**
 * A sealed request, ready for `sender.sendMessages({ body, messageId, applicationProperties, timeToLive })`
 * (`header` is for the caller's records, not for the message).
 */
export interface SealedRequest {
  body: Buffer;
  /** = operationId (docs/wire.md), so duplicate detection and logs line up. */
  messageId: string;
  applicationProperties: RequestProperties;
  header: RequestHeader;
}

/**
 * Key Vault, as the agent uses it to open requests: an adapter over `CryptographyClient`
 * (`unwrapKey` and `decrypt` with RSA-OAEP-256), or node:crypto in tests. Key ids are versioned
 * and always built under `vaultUrl`, the vault the agent is configured to trust.
 */
export interface RequestKeyVault {
  readonly vaultUrl: string;
  unwrapKey(keyId: string, algorithm: KeyEncryptionAlgorithm, wrappedKey: Buffer): Promise<Buffer>;
  decrypt(keyId: string, algorithm: KeyEncryptionAlgorithm, ciphertext: Buffer): Promise<Buffer>;
}

// ---- keys -------------------------------------------------------------------------------------

function base64url(value: Uint8Array | string | undefined, field: string): string {
  if (value === undefined) throw new EnvelopeError('invalidInput', `the key has no ${field}`);
  return typeof value === 'string' ? value : Buffer.from(value).toString('base64url');
}

/**
 * Parses the public JWK of one version of a tenant's `writeback-{t}-enc` key. Refuses anything
 * but an RSA key of 2048, 3072 or 4096 bits with a versioned `kid` naming such a key.
 */
export function importEncryptionKey(jwk: PublicRsaJwk): EncryptionKey {
  if (jwk.kty !== 'RSA' && jwk.kty !== 'RSA-HSM') throw new EnvelopeError('invalidInput', 'not an RSA key');
  let parsed;
  try {
    parsed = parseKeyId(jwk.kid ?? '');
  } catch (error) {
    throw new EnvelopeError('invalidInput', 'the key has no versioned kid', { cause: error });
  }
  const tenantId = tenantOfKeyName(parsed.name, 'enc');
  if (!tenantId)
    throw new EnvelopeError('invalidInput', `key ${parsed.name} is not a writeback-{tenant}-enc key`);
  if (!KEY_VERSION.test(parsed.version))
    throw new EnvelopeError('invalidInput', 'the key version is not 32 hex digits');
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({
      key: { kty: 'RSA', n: base64url(jwk.n, 'modulus'), e: base64url(jwk.e, 'exponent') },
      format: 'jwk',
    });
  } catch (error) {
    throw new EnvelopeError('invalidInput', 'the RSA key does not parse', { cause: error });
  }
  const modulusBytes = (publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  if (!MODULUS_BYTES.includes(modulusBytes)) {
    throw new EnvelopeError('invalidInput', 'the RSA key must have 2048, 3072 or 4096 bits');
  }
  return { keyId: jwk.kid!, tenantId, version: parsed.version, publicKey, modulusBytes };
}

// ---- seal (cloud side) ------------------------------------------------------------------------

function rsaEncryptBlocks(plaintext: Buffer, key: EncryptionKey): Buffer[] {
  const capacity = key.modulusBytes - OAEP_SHA256_OVERHEAD;
  const blocks: Buffer[] = [];
  for (let offset = 0; offset < plaintext.length; offset += capacity) {
    blocks.push(
      publicEncrypt(
        { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        plaintext.subarray(offset, offset + capacity),
      ),
    );
  }
  return blocks;
}

/**
 * Seals a request for the tenant's queue (cloud side). Synchronous and local: the only key it
 * needs is the cached public key. Throws EnvelopeError('invalidInput') for input the envelope
 * cannot carry; the message says which field and why, never its value.
 */
export function sealRequest(request: RequestToSeal, key: EncryptionKey): SealedRequest {
  const headerInput = Header.safeParse(request.header);
  if (!headerInput.success) throw new EnvelopeError('invalidInput', describeIssues(headerInput.error));
  const payload = Payload.safeParse(request.payload);
  if (!payload.success) throw new EnvelopeError('invalidInput', describeIssues(payload.error));
  if (headerInput.data.tenantId !== key.tenantId) {
    throw new EnvelopeError(
      'invalidInput',
      `the key is not tenant ${headerInput.data.tenantId}'s encryption key`,
    );
  }

  const header: RequestHeader = {
    version: ENVELOPE_VERSION,
    tenantId: headerInput.data.tenantId,
    operationId: headerInput.data.operationId,
    keyVersion: key.version,
    expiresAt: new Date(headerInput.data.expiresAt.getTime()),
  };
  const aad = encodeHeader(header);

  const secrets = new ByteWriter();
  for (const password of passwordsOf(payload.data)) secrets.prefixed('u16', Buffer.from(password, 'utf8'));
  const secretBytes = secrets.toBuffer();
  const user = 'user' in payload.data ? payload.data.user : undefined;
  const plain = new ByteWriter()
    .u8(OPERATION_CODE[payload.data.operation])
    .u8(flagsOf(payload.data))
    .u8(user ? USER_KIND_CODE[user.kind] : NO_USER)
    .prefixed('u16', Buffer.from(user?.value ?? '', 'utf8'));
  for (const block of rsaEncryptBlocks(secretBytes, key)) plain.bytes(block);
  secretBytes.fill(0);
  secrets.wipe();
  const plaintext = plain.toBuffer();

  const contentKey = randomBytes(CONTENT_KEY_BYTES);
  const iv = randomBytes(IV_BYTES);
  try {
    const ek = publicEncrypt(
      { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      contentKey,
    );
    const cipher = createCipheriv('aes-256-gcm', contentKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const body = Buffer.concat([
      aad,
      new ByteWriter().prefixed('u16', ek).toBuffer(),
      iv,
      ciphertext,
      cipher.getAuthTag(),
    ]);
    return { body, messageId: header.operationId, applicationProperties: propertiesOf(header), header };
  } finally {
    contentKey.fill(0);
    plaintext.fill(0);
  }
}

// ---- open (agent side) ------------------------------------------------------------------------

/**
 * Opens a request (agent side): strict parse; header equals messageId and application properties; unwrap
 * K with the versioned key the header names (any version still in the vault works, so key
 * rollover needs no restart); verify the GCM tag; refuse an expired request with
 * RequestExpiredError (only once the expiry is authenticated, and before any password is
 * decrypted); decrypt the password block through Key Vault. Everything else is an EnvelopeError.
 *
 * The caller still checks that `header.tenantId` is its queue's tenant (best before, with
 * {@link readRequestHeader}).
 */
export async function openRequest(
  message: RequestMessage,
  keyVault: RequestKeyVault,
  now: Date,
): Promise<OpenedRequest> {
  const parsed = parseBody(message.body);
  const { header } = parsed;
  checkMessage(header, message);
  const keyId = formatKeyId(keyVault.vaultUrl, encryptionKeyName(header.tenantId), header.keyVersion);

  let contentKey: Buffer;
  try {
    contentKey = await keyVault.unwrapKey(keyId, KEY_ENCRYPTION_ALGORITHM, Buffer.from(parsed.ek));
  } catch (error) {
    throw new EnvelopeError('unwrapFailed', `key ${keyId} did not unwrap the content key`, { cause: error });
  }
  let plaintext: Buffer;
  try {
    if (contentKey.length !== CONTENT_KEY_BYTES) {
      throw new EnvelopeError('unwrapFailed', 'the unwrapped content key has the wrong length');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', contentKey, parsed.iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(parsed.aad);
      decipher.setAuthTag(parsed.tag);
      plaintext = Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()]);
    } catch {
      throw new EnvelopeError('integrity', 'the authentication tag does not verify');
    }
  } finally {
    contentKey.fill(0);
  }

  try {
    if (now.getTime() >= header.expiresAt.getTime()) {
      throw new RequestExpiredError(header.tenantId, header.operationId, header.expiresAt);
    }
    const { operation, flags, user, blocks } = parsePayload(plaintext, parsed.ek.length);
    if (operation === 'unlock') return { header, payload: { operation, user: user! } };

    let chunks: Buffer[];
    try {
      chunks = await Promise.all(
        blocks.map((block) => keyVault.decrypt(keyId, KEY_ENCRYPTION_ALGORITHM, Buffer.from(block))),
      );
    } catch (error) {
      throw new EnvelopeError('decryptFailed', `key ${keyId} did not decrypt the password block`, {
        cause: error,
      });
    }
    const secrets = Buffer.concat(chunks);
    for (const chunk of chunks) chunk.fill(0);
    try {
      if (operation === 'credentials') {
        const [listenKey, sendKey] = parsePasswords(secrets, 2) as [string, string];
        if (!SAS_KEY.test(listenKey) || !SAS_KEY.test(sendKey)) {
          throw new EnvelopeError('malformed', 'the credentials are not SAS keys');
        }
        return { header, payload: { operation, listenKey, sendKey } };
      }
      if (operation === 'reset') {
        const [newPassword] = parsePasswords(secrets, 1) as [string];
        const resetFlags = {
          forceChangeAtNextLogon: (flags & FLAG_FORCE_CHANGE) !== 0,
          unlock: (flags & FLAG_UNLOCK) !== 0,
        };
        return { header, payload: { operation, user: user!, newPassword, flags: resetFlags } };
      }
      const [currentPassword, newPassword] = parsePasswords(secrets, 2) as [string, string];
      return { header, payload: { operation, user: user!, currentPassword, newPassword } };
    } finally {
      secrets.fill(0);
    }
  } finally {
    plaintext.fill(0);
  }
}
