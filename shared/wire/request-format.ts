/**
 * The byte format of a request envelope: its constants, header, application properties and payload
 * layout, written on the cloud side and parsed strictly on the agent side. No cryptography here:
 * envelope.ts seals and opens.
 */
import { OPERATION_ID_PATTERN, SID_PATTERN } from '../domain/index.js';
import { z } from 'zod';
import type { UserIdentifier } from '../domain/index.js';
import { ByteReader, ByteWriter } from './binary.js';
import { EnvelopeError } from './errors.js';
import { wireTenantId } from './names.js';

export const ENVELOPE_VERSION = 1;

/** A password, as UTF-8, may take up to 1024 bytes: 256 characters of 4 bytes each. */
export const MAX_PASSWORD_BYTES = 1024;
/** AD's userPrincipalName holds up to 1024 characters; the envelope takes up to 1024 UTF-8 bytes. */
export const MAX_USER_BYTES = 1024;

export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const CONTENT_KEY_BYTES = 32;
export const UUID_BYTES = 16;
/** RSA 2048, 3072 and 4096 bits. */
export const MODULUS_BYTES: readonly number[] = [256, 384, 512];
/** Far above any valid request (worst case ≈ 3.5 KB with RSA-4096), so garbage is refused early. */
export const MAX_BODY_BYTES = 16 * 1024;
export const MAX_EXPIRY_MS = 2 ** 48 - 1;
/** Key Vault key versions: 32 lower-case hex digits, carried as 16 bytes. */
export const KEY_VERSION = /^[0-9a-f]{32}$/;
export const KEY_VERSION_BYTES = 16;

export const OPERATION_CODE = { reset: 1, change: 2, unlock: 3, credentials: 4 } as const;
export const FLAG_FORCE_CHANGE = 0b01;
export const FLAG_UNLOCK = 0b10;
export const USER_KIND_CODE = { sid: 1, upn: 2 } as const;
export const NO_USER = 0;
/** A SAS key as Service Bus generates them: 32 random bytes in base64 (44 characters); up to 256. */
export const SAS_KEY = /^[A-Za-z0-9+/=]{1,256}$/;

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

// ---- input validation (cloud side) ----------------------------------------------------------

/** Lone surrogates cannot be encoded in UTF-8; TextEncoder would silently change them to U+FFFD. */
export const LONE_SURROGATE = /\p{Cs}/u;

export const Password = z
  .string()
  .min(1, 'must not be empty')
  .refine((value) => !LONE_SURROGATE.test(value), 'must be well-formed Unicode')
  .refine((value) => Buffer.byteLength(value, 'utf8') <= MAX_PASSWORD_BYTES, 'is too long');

export const User = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('sid'),
    value: z.string().regex(SID_PATTERN, 'not a SID'),
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

export const Payload = z.discriminatedUnion('operation', [
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

export const UUID = OPERATION_ID_PATTERN;

export const Header = z.object({
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
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'value'} ${issue.message}`).join('; ');
}

// ---- write (cloud side) ----------------------------------------------------------------------

export function encodeHeader(header: RequestHeader): Buffer {
  return new ByteWriter()
    .u8(header.version)
    .prefixed('u8', Buffer.from(header.tenantId, 'ascii'))
    .bytes(Buffer.from(header.operationId.replaceAll('-', ''), 'hex'))
    .u48(header.expiresAt.getTime())
    .bytes(Buffer.from(header.keyVersion, 'hex'))
    .toBuffer();
}

export function passwordsOf(payload: z.infer<typeof Payload>): string[] {
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

export function flagsOf(payload: z.infer<typeof Payload>): number {
  if (payload.operation !== 'reset') return 0;
  return (
    (payload.flags?.forceChangeAtNextLogon ? FLAG_FORCE_CHANGE : 0) |
    (payload.flags?.unlock ? FLAG_UNLOCK : 0)
  );
}

export function propertiesOf(header: RequestHeader): RequestProperties {
  return {
    envelopeVersion: header.version,
    tenantId: header.tenantId,
    keyVersion: header.keyVersion,
    expiresAt: new Date(header.expiresAt.getTime()),
  };
}

// ---- read (agent side) -----------------------------------------------------------------------

export interface ParsedBody {
  header: RequestHeader;
  aad: Buffer;
  ek: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export function formatUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function parseBody(body: unknown): ParsedBody {
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

export function checkMessage(header: RequestHeader, message: RequestMessage): void {
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

export function parsePayload(plaintext: Buffer, modulusBytes: number) {
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

export const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function decodeUtf8(bytes: Buffer, field: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new EnvelopeError('malformed', `${field} is not UTF-8`);
  }
}

export function parsePasswords(secrets: Buffer, count: 1 | 2): string[] {
  const reader = new ByteReader(secrets, 'the password block');
  const passwords: string[] = [];
  for (let i = 0; i < count; i++) {
    passwords.push(decodeUtf8(reader.prefixed('u16', MAX_PASSWORD_BYTES, 'a password'), 'a password'));
  }
  reader.end();
  return passwords;
}
