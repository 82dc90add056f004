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

/** A trigger may name the other kind as null (Key Vault's own JSON examples do). */
const OptionalDuration = Duration.nullable().optional();

const RotationPolicyRequestSchema = z.object({
  lifetimeActions: z
    .array(
      z.object({
        trigger: z.object({ timeAfterCreate: OptionalDuration, timeBeforeExpiry: OptionalDuration }),
        action: z.object({ type: z.string() }),
      }),
    )
    .nullable()
    .optional(),
  attributes: z.object({ expiryTime: OptionalDuration }).nullable().optional(),
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

const DAY_SECONDS = 86_400;
/** Key Vault: "ExpiresIn … should be at least 28 days". */
const MIN_EXPIRY_SECONDS = 28 * DAY_SECONDS;
/** Key Vault: rotation time is at least 7 days from creation and 7 days from expiration. */
const MIN_ROTATION_MARGIN_SECONDS = 7 * DAY_SECONDS;

/** What Key Vault adds to a policy without a Notify action, and answers for a key without a policy. */
export const DEFAULT_NOTIFY_ACTION: Readonly<LifetimeAction> = {
  trigger: { timeBeforeExpiry: 'P30D' },
  action: { type: 'Notify' },
};

export interface RotationPolicyInput {
  lifetimeActions: LifetimeAction[];
  expiryTime?: string;
}

/**
 * A rotation policy, with Key Vault's rules: one trigger per action; `expiryTime` at least 28 days; a
 * Rotate action at least 7 days after creation and at least 7 days before expiry (a `timeBeforeExpiry`
 * Rotate needs `expiryTime`). A Notify `timeBeforeExpiry` needs no `expiryTime`: that is the policy Key
 * Vault answers for a key without one, and writing it back is accepted. Without a Notify action Key
 * Vault adds its default (Notify 30 days before expiry), so an empty list restores the default.
 */
export function parseRotationPolicy(body: unknown): RotationPolicyInput {
  const request = parseRequest(RotationPolicyRequestSchema, body);
  const expiryTime = request.attributes?.expiryTime ?? undefined;
  const expirySeconds = expiryTime === undefined ? undefined : durationSeconds(expiryTime);
  if (expirySeconds !== undefined && expirySeconds < MIN_EXPIRY_SECONDS) {
    throw badParameter(
      `Property attributes.expiryTime has invalid value: ${expiryTime} is shorter than the minimum of 28 days (P28D).`,
    );
  }
  const lifetimeActions = (request.lifetimeActions ?? []).map((entry, index): LifetimeAction => {
    const type = entry.action.type.toLowerCase();
    if (type !== 'rotate' && type !== 'notify') {
      throw badParameter(
        `Property lifetimeActions[${index}].action.type has invalid value: use Rotate or Notify.`,
      );
    }
    const timeAfterCreate = entry.trigger.timeAfterCreate ?? undefined;
    const timeBeforeExpiry = entry.trigger.timeBeforeExpiry ?? undefined;
    if ((timeAfterCreate === undefined) === (timeBeforeExpiry === undefined)) {
      throw badParameter(
        `Property lifetimeActions[${index}].trigger has invalid value: set exactly one of timeAfterCreate and timeBeforeExpiry.`,
      );
    }
    if (type === 'rotate') checkRotationTime(index, timeAfterCreate, timeBeforeExpiry, expirySeconds);
    return {
      trigger: timeAfterCreate !== undefined ? { timeAfterCreate } : { timeBeforeExpiry: timeBeforeExpiry! },
      action: { type: type === 'rotate' ? 'Rotate' : 'Notify' },
    };
  });
  if (!lifetimeActions.some((a) => a.action.type === 'Notify')) {
    lifetimeActions.push({
      trigger: { ...DEFAULT_NOTIFY_ACTION.trigger },
      action: { ...DEFAULT_NOTIFY_ACTION.action },
    });
  }
  return { lifetimeActions, ...(expiryTime !== undefined ? { expiryTime } : {}) };
}

function checkRotationTime(
  index: number,
  timeAfterCreate: string | undefined,
  timeBeforeExpiry: string | undefined,
  expirySeconds: number | undefined,
): void {
  const where = `Property lifetimeActions[${index}].trigger`;
  if (timeBeforeExpiry !== undefined && expirySeconds === undefined) {
    throw badParameter(`${where}.timeBeforeExpiry of a Rotate action needs attributes.expiryTime.`);
  }
  const name = timeAfterCreate !== undefined ? 'timeAfterCreate' : 'timeBeforeExpiry';
  const seconds = durationSeconds((timeAfterCreate ?? timeBeforeExpiry)!);
  if (seconds < MIN_ROTATION_MARGIN_SECONDS) {
    throw badParameter(`${where}.${name} must be at least 7 days (P7D).`);
  }
  if (expirySeconds !== undefined && seconds > expirySeconds - MIN_ROTATION_MARGIN_SECONDS) {
    throw badParameter(
      `${where}.${name} must leave at least 7 days between the rotation and the creation or expiry of the version.`,
    );
  }
}
