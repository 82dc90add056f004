/**
 * The request envelope (DESIGN.md §5): the cloud seals a writeback request with the tenant's
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
import { z } from 'zod';
import type { ResetFlags, UserIdentifier } from '../domain/index.js';
import { ByteReader, ByteWriter } from './binary.js';
import { EnvelopeError, RequestExpiredError } from './errors.js';
import { encryptionKeyName, formatKeyId, parseKeyId, tenantOfKeyName, wireTenantId } from './names.js';

export const ENVELOPE_VERSION = 1;
export const KEY_ENCRYPTION_ALGORITHM = 'RSA-OAEP-256';
export type KeyEncryptionAlgorithm = typeof KEY_ENCRYPTION_ALGORITHM;

/** A password, as UTF-8, may take up to 1024 bytes: 256 characters of 4 bytes each. */
export const MAX_PASSWORD_BYTES = 1024;
/** AD's userPrincipalName holds up to 1024 characters; the envelope takes up to 1024 UTF-8 bytes. */
export const MAX_USER_BYTES = 1024;

const IV_BYTES = 12;
const TAG_BYTES = 16;
const CONTENT_KEY_BYTES = 32;
const UUID_BYTES = 16;
/** RSA-OAEP with SHA-256 takes at most k − 2·32 − 2 bytes per block (RFC 8017 §7.1.1). */
const OAEP_SHA256_OVERHEAD = 66;
/** RSA 2048, 3072 and 4096 bits. */
const MODULUS_BYTES: readonly number[] = [256, 384, 512];
/** Far above any valid request (worst case ≈ 3.5 KB with RSA-4096), so garbage is refused early. */
const MAX_BODY_BYTES = 16 * 1024;
const MAX_EXPIRY_MS = 2 ** 48 - 1;
/** Key Vault key versions: 32 lower-case hex digits, carried as 16 bytes. */
const KEY_VERSION = /^[0-9a-f]{32}$/;
const KEY_VERSION_BYTES = 16;

const OPERATION_CODE = { reset: 1, change: 2, unlock: 3, credentials: 4 } as const;
const FLAG_FORCE_CHANGE = 0b01;
const FLAG_UNLOCK = 0b10;
const USER_KIND_CODE = { sid: 1, upn: 2 } as const;
const NO_USER = 0;
/** A SAS key as Service Bus generates them: 32 random bytes in base64 (44 characters); up to 256. */
const SAS_KEY = /^[A-Za-z0-9+/=]{1,256}$/;

/** Names of the application properties that mirror the header. */

export interface RequestHeader {
  version: number;
  tenantId: string;
  operationId: string;
  /** The version of `writeback-{tenantId}-enc` that sealed the request. */
  keyVersion: string;
  expiresAt: Date;
}

/**
 * The message's application properties: the header again (the operation id is the messageId), for
 * operators and filters. No personal data.
 */
export type RequestProperties = {
  envelopeVersion: number;
  tenantId: string;
  keyVersion: string;
  expiresAt: Date;
};

/**
 * The parts of a Service Bus message the envelope uses; a `ServiceBusReceivedMessage` is one.
 * Other application properties (e.g. tracing's Diagnostic-Id) are ignored.
 */
export interface RequestMessage {
  body: unknown;
  messageId?: unknown;
  applicationProperties?: Readonly<Record<string, unknown>> | null;
}

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
  /** = operationId (DESIGN.md §5), so duplicate detection and logs line up. */
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

// ---- input validation (cloud side) ----------------------------------------------------------

/** Lone surrogates cannot be encoded in UTF-8; TextEncoder would silently change them to U+FFFD. */
const LONE_SURROGATE = /\p{Cs}/u;

const Password = z
  .string()
  .min(1, 'must not be empty')
  .refine((value) => !LONE_SURROGATE.test(value), 'must be well-formed Unicode')
  .refine((value) => Buffer.byteLength(value, 'utf8') <= MAX_PASSWORD_BYTES, 'is too long');

const User = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('sid'),
    value: z.string().regex(/^S-1-\d{1,15}(-\d{1,10}){1,15}$/, 'not a SID'),
  }),
  z.object({
    kind: z.literal('upn'),
    value: z
      .string()
      .min(1, 'must not be empty')
      .refine((value) => !LONE_SURROGATE.test(value), 'must be well-formed Unicode')
      .refine((value) => Buffer.byteLength(value, 'utf8') <= MAX_USER_BYTES, 'is too long'),
  }),
]);

const Payload = z.discriminatedUnion('operation', [
  z.object({
    operation: z.literal('reset'),
    user: User,
    newPassword: Password,
    flags: z
      .object({ forceChangeAtNextLogon: z.boolean().optional(), unlock: z.boolean().optional() })
      .optional(),
  }),
  z.object({ operation: z.literal('change'), user: User, currentPassword: Password, newPassword: Password }),
  z.object({ operation: z.literal('unlock'), user: User }),
  z.object({
    operation: z.literal('credentials'),
    listenKey: z.string().regex(SAS_KEY, 'is not a SAS key'),
    sendKey: z.string().regex(SAS_KEY, 'is not a SAS key'),
  }),
]);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const Header = z.object({
  tenantId: z.string().refine((value) => {
    try {
      wireTenantId(value);
      return true;
    } catch {
      return false;
    }
  }, 'not a valid tenant id'),
  operationId: z.string().regex(UUID, 'must be a lower-case UUID'),
  expiresAt: z.date().refine((d) => d.getTime() >= 0 && d.getTime() <= MAX_EXPIRY_MS, 'out of range'),
});

/** Zod's messages name the field and the rule, never the value (zod does not echo input by default). */
function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'value'} ${issue.message}`).join('; ');
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

function encodeHeader(header: RequestHeader): Buffer {
  return new ByteWriter()
    .u8(header.version)
    .prefixed('u8', Buffer.from(header.tenantId, 'ascii'))
    .bytes(Buffer.from(header.operationId.replaceAll('-', ''), 'hex'))
    .u48(header.expiresAt.getTime())
    .bytes(Buffer.from(header.keyVersion, 'hex'))
    .toBuffer();
}

function passwordsOf(payload: z.infer<typeof Payload>): string[] {
  switch (payload.operation) {
    case 'reset':
      return [payload.newPassword];
    case 'change':
      return [payload.currentPassword, payload.newPassword];
    case 'unlock':
      return [];
    case 'credentials':
      return [payload.listenKey, payload.sendKey];
  }
}

function flagsOf(payload: z.infer<typeof Payload>): number {
  if (payload.operation !== 'reset') return 0;
  return (
    (payload.flags?.forceChangeAtNextLogon ? FLAG_FORCE_CHANGE : 0) |
    (payload.flags?.unlock ? FLAG_UNLOCK : 0)
  );
}

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

function propertiesOf(header: RequestHeader): RequestProperties {
  return {
    envelopeVersion: header.version,
    tenantId: header.tenantId,
    keyVersion: header.keyVersion,
    expiresAt: new Date(header.expiresAt.getTime()),
  };
}

// ---- open (agent side) ------------------------------------------------------------------------

interface ParsedBody {
  header: RequestHeader;
  aad: Buffer;
  ek: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

function formatUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function parseBody(body: unknown): ParsedBody {
  if (!(body instanceof Uint8Array)) throw new EnvelopeError('malformed', 'the body is not binary');
  if (body.length > MAX_BODY_BYTES) throw new EnvelopeError('malformed', 'the body is too large');
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const reader = new ByteReader(bytes, 'the body');
  const version = reader.u8('the format version');
  if (version !== ENVELOPE_VERSION)
    throw new EnvelopeError('unsupportedVersion', `format version ${version}`);
  const tenantId = reader.prefixed('u8', 63, 'the tenant id').toString('latin1');
  try {
    wireTenantId(tenantId);
  } catch {
    throw new EnvelopeError('malformed', 'the tenant id is invalid');
  }
  const operationId = formatUuid(reader.take(UUID_BYTES, 'the operation id'));
  const expiresAt = new Date(reader.u48('the expiry'));
  const keyVersion = reader.take(KEY_VERSION_BYTES, 'the key version').toString('hex');
  const aad = bytes.subarray(0, reader.position);
  const modulusBytes = reader.u16('the wrapped key length');
  if (!MODULUS_BYTES.includes(modulusBytes))
    throw new EnvelopeError('malformed', 'the wrapped key has a bad length');
  const ek = reader.take(modulusBytes, 'the wrapped key');
  const iv = reader.take(IV_BYTES, 'the IV');
  if (reader.remaining < TAG_BYTES) throw new EnvelopeError('malformed', 'the body ends inside the tag');
  const ciphertext = reader.take(reader.remaining - TAG_BYTES, 'the ciphertext');
  const tag = reader.take(TAG_BYTES, 'the tag');
  reader.end();
  return {
    header: { version, tenantId, operationId, keyVersion, expiresAt },
    aad,
    ek,
    iv,
    ciphertext,
    tag,
  };
}

function checkMessage(header: RequestHeader, message: RequestMessage): void {
  const expected = propertiesOf(header);
  const properties = message.applicationProperties ?? {};
  const mismatched: string[] = (Object.keys(expected) as (keyof RequestProperties)[]).filter((name) => {
    const actual = properties[name];
    const wanted = expected[name];
    return wanted instanceof Date
      ? !(actual instanceof Date) || actual.getTime() !== wanted.getTime()
      : actual !== wanted;
  });
  if (message.messageId !== header.operationId) mismatched.unshift('messageId');
  if (mismatched.length > 0) {
    throw new EnvelopeError(
      'headerMismatch',
      `message properties differ from the header: ${mismatched.join(', ')}`,
    );
  }
}

/**
 * Reads and checks the header without any cryptography or Key Vault call: strict parse of the
 * whole body, and equality with messageId and the application properties. The agent uses it to
 * check, before spending a Key Vault call, that the tenant is the one its queue belongs to.
 * The header is not yet authenticated: {@link openRequest} does that.
 */
export function readRequestHeader(message: RequestMessage): RequestHeader {
  const { header } = parseBody(message.body);
  checkMessage(header, message);
  return header;
}

function parsePayload(plaintext: Buffer, modulusBytes: number) {
  const reader = new ByteReader(plaintext, 'the payload');
  const operationCode = reader.u8('the operation');
  const operation = (Object.keys(OPERATION_CODE) as (keyof typeof OPERATION_CODE)[]).find(
    (name) => OPERATION_CODE[name] === operationCode,
  );
  if (!operation) throw new EnvelopeError('malformed', 'unknown operation');
  const flags = reader.u8('the flags');
  if ((flags & ~(FLAG_FORCE_CHANGE | FLAG_UNLOCK)) !== 0 || (operation !== 'reset' && flags !== 0)) {
    throw new EnvelopeError('malformed', 'unknown flags');
  }
  const kindCode = reader.u8('the user kind');
  const kind = kindCode === USER_KIND_CODE.sid ? 'sid' : kindCode === USER_KIND_CODE.upn ? 'upn' : undefined;
  const value = decodeUtf8(
    reader.prefixed('u16', MAX_USER_BYTES, 'the user identifier', operation === 'credentials' ? 0 : 1),
    'the user identifier',
  );
  let user: UserIdentifier | undefined;
  if (operation === 'credentials') {
    // A control message names no user, and says so in both fields.
    if (kindCode !== NO_USER || value !== '') throw new EnvelopeError('malformed', 'unknown user kind');
  } else {
    if (!kind) throw new EnvelopeError('malformed', 'unknown user kind');
    const parsed = User.safeParse({ kind, value });
    if (!parsed.success) throw new EnvelopeError('malformed', 'the user identifier is invalid');
    user = parsed.data;
  }
  const blockBytes = reader.rest();
  const blockCount = blockBytes.length / modulusBytes;
  if (!Number.isInteger(blockCount) || (operation === 'unlock') !== (blockCount === 0)) {
    throw new EnvelopeError('malformed', 'the password block has a bad length');
  }
  const blocks = Array.from({ length: blockCount }, (_, i) =>
    blockBytes.subarray(i * modulusBytes, (i + 1) * modulusBytes),
  );
  return { operation, flags, user, blocks };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Buffer, field: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new EnvelopeError('malformed', `${field} is not UTF-8`);
  }
}

function parsePasswords(secrets: Buffer, count: 1 | 2): string[] {
  const reader = new ByteReader(secrets, 'the password block');
  const passwords: string[] = [];
  for (let i = 0; i < count; i++) {
    passwords.push(decodeUtf8(reader.prefixed('u16', MAX_PASSWORD_BYTES, 'a password'), 'a password'));
  }
  reader.end();
  return passwords;
}

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
