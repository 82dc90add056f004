/** The request bodies of the keys API, checked as Key Vault does (400 BadParameter naming the property). */
import { parse as parseDuration } from 'tinyduration';
import { z } from 'zod';
import { badParameter } from '../http/errors.js';
import { KEY_OPERATIONS, KEY_TYPES, type KeyOperation, type KeyType, type LifetimeAction } from './model.js';

const MAX_TAGS = 15;
const MAX_TAG_LENGTH = 512;

const Tags = z
  .record(z.string().max(MAX_TAG_LENGTH), z.string().max(MAX_TAG_LENGTH))
  .refine((tags) => Object.keys(tags).length <= MAX_TAGS, `at most ${MAX_TAGS} tags are allowed`);

const UnixSeconds = z.number().int().nonnegative();

const Attributes = z.object({
  enabled: z.boolean().optional(),
  nbf: UnixSeconds.nullable().optional(),
  exp: UnixSeconds.nullable().optional(),
  exportable: z.boolean().optional(),
});

const KeyOps = z.array(z.enum(KEY_OPERATIONS));

export const CreateKeyRequest = z.object({
  kty: z.enum(KEY_TYPES),
  key_size: z.number().int().optional(),
  public_exponent: z.number().int().optional(),
  crv: z.string().optional(),
  key_ops: KeyOps.optional(),
  attributes: Attributes.optional(),
  tags: Tags.optional(),
});
export type CreateKeyRequest = z.infer<typeof CreateKeyRequest>;

export const ImportKeyRequest = z.object({
  Hsm: z.boolean().optional(),
  key: z.looseObject({ kty: z.enum(KEY_TYPES), key_ops: KeyOps.optional() }),
  attributes: Attributes.optional(),
  tags: Tags.optional(),
});
export type ImportKeyRequest = z.infer<typeof ImportKeyRequest>;

export const UpdateKeyRequest = z.object({
  key_ops: KeyOps.optional(),
  attributes: Attributes.optional(),
  tags: Tags.optional(),
});
export type UpdateKeyRequest = z.infer<typeof UpdateKeyRequest>;

const Duration = z.string().refine((value) => {
  try {
    parseDuration(value);
    return true;
  } catch {
    return false;
  }
}, 'must be an ISO-8601 duration');

const RotationPolicyRequestSchema = z.object({
  lifetimeActions: z
    .array(
      z.object({
        trigger: z.object({ timeAfterCreate: Duration.optional(), timeBeforeExpiry: Duration.optional() }),
        action: z.object({ type: z.string() }),
      }),
    )
    .optional(),
  attributes: z.object({ expiryTime: Duration.optional() }).optional(),
});

/** Parses `body` with `schema`, or throws Key Vault's BadParameter naming the first bad property. */
export function parseRequest<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.map(String).join('.') || 'body';
  throw badParameter(`Property ${path} has invalid value: ${issue?.message ?? 'invalid'}.`);
}

/** The operations a key type may carry, and its defaults (what Key Vault gives a key created without key_ops). */
export function permittedOperations(kty: KeyType): readonly KeyOperation[] {
  return kty.startsWith('RSA')
    ? ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import']
    : ['sign', 'verify', 'import'];
}

export function defaultOperations(kty: KeyType): KeyOperation[] {
  return kty.startsWith('RSA')
    ? ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey']
    : ['sign', 'verify'];
}

export function checkOperations(kty: KeyType, ops: readonly KeyOperation[]): KeyOperation[] {
  const permitted = permittedOperations(kty);
  for (const op of ops) {
    if (!permitted.includes(op))
      throw badParameter(`Property key_ops has invalid value: ${op} is not valid for ${kty} keys.`);
  }
  return [...new Set(ops)];
}

export function durationSeconds(value: string): number {
  const d = parseDuration(value);
  const days = (d.years ?? 0) * 365 + (d.months ?? 0) * 30 + (d.weeks ?? 0) * 7 + (d.days ?? 0);
  return Math.round(days * 86_400 + (d.hours ?? 0) * 3600 + (d.minutes ?? 0) * 60 + (d.seconds ?? 0));
}

const MIN_EXPIRY_SECONDS = 28 * 86_400;
const MIN_TIME_AFTER_CREATE_SECONDS = 7 * 86_400;

export interface RotationPolicyInput {
  lifetimeActions: LifetimeAction[];
  expiryTime?: string;
}

/** A rotation policy, with Key Vault's rules: one trigger per action, expiry at least 28 days, rotation at least 7 days after creation. */
export function parseRotationPolicy(body: unknown): RotationPolicyInput {
  const request = parseRequest(RotationPolicyRequestSchema, body);
  const expiryTime = request.attributes?.expiryTime;
  if (expiryTime !== undefined && durationSeconds(expiryTime) < MIN_EXPIRY_SECONDS) {
    throw badParameter(
      'Property attributes.expiryTime has invalid value: it must be at least 28 days (P28D).',
    );
  }
  const lifetimeActions = (request.lifetimeActions ?? []).map((entry, index): LifetimeAction => {
    const type = entry.action.type.toLowerCase();
    if (type !== 'rotate' && type !== 'notify') {
      throw badParameter(
        `Property lifetimeActions[${index}].action.type has invalid value: use Rotate or Notify.`,
      );
    }
    const { timeAfterCreate, timeBeforeExpiry } = entry.trigger;
    if ((timeAfterCreate === undefined) === (timeBeforeExpiry === undefined)) {
      throw badParameter(
        `Property lifetimeActions[${index}].trigger has invalid value: set exactly one of timeAfterCreate and timeBeforeExpiry.`,
      );
    }
    if (timeAfterCreate !== undefined && durationSeconds(timeAfterCreate) < MIN_TIME_AFTER_CREATE_SECONDS) {
      throw badParameter(
        `Property lifetimeActions[${index}].trigger.timeAfterCreate must be at least 7 days (P7D).`,
      );
    }
    if (timeBeforeExpiry !== undefined && expiryTime === undefined) {
      throw badParameter(
        `Property lifetimeActions[${index}].trigger.timeBeforeExpiry needs attributes.expiryTime.`,
      );
    }
    return {
      trigger: timeAfterCreate !== undefined ? { timeAfterCreate } : { timeBeforeExpiry: timeBeforeExpiry! },
      action: { type: type === 'rotate' ? 'Rotate' : 'Notify' },
    };
  });
  return { lifetimeActions, ...(expiryTime !== undefined ? { expiryTime } : {}) };
}
