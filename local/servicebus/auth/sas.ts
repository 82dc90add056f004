/**
 * Shared access signatures as Service Bus checks them: `SharedAccessSignature sr=…&sig=…&se=…&skn=…`,
 * sig = base64(HMAC-SHA256(key as UTF-8, <sr exactly as sent> + "\n" + se)). The token grants the rights
 * of rule `skn` on every entity under the URI `sr`. The rule must be the namespace's or belong to the
 * entity that `sr` names: a queue's rule grants nothing on any other queue.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type AccessRight = 'Manage' | 'Send' | 'Listen';

export interface AuthorizationRule {
  keyName: string;
  primaryKey: string;
  secondaryKey?: string;
  rights: readonly AccessRight[];
}

/** Where a token's rule may come from: the namespace, or the entity its audience names. */
export interface RuleSource {
  namespaceRules(): readonly AuthorizationRule[];
  /** The rules of entity `name`, or undefined when there is no such entity. */
  entityRules(name: string): readonly AuthorizationRule[] | undefined;
}

export interface Grant {
  /** The path the token covers, lower case, without leading or trailing slash ('' = whole namespace). */
  scope: string;
  rights: ReadonlySet<AccessRight>;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** The rule that signed the token (who is asking, for the broker's counters). */
  keyName: string;
}

export class SasError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SasError';
  }
}

interface ParsedToken {
  sr: string;
  sig: string;
  se: string;
  skn: string;
}

function parseToken(token: string): ParsedToken {
  const prefix = 'SharedAccessSignature ';
  if (!token.startsWith(prefix)) throw new SasError('not a shared access signature');
  const fields = new Map<string, string>();
  for (const part of token.slice(prefix.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  const skn = fields.get('skn');
  if (!sr || !sig || !se || !skn) throw new SasError('the token lacks sr, sig, se or skn');
  return { sr, sig, se, skn };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new SasError('the token is not properly encoded');
  }
}

/** The entity path of a resource URI (`sb://host:port/q/$management` → `q/$management`), lower case. */
export function resourcePath(uri: string): string {
  const withoutScheme = uri.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = withoutScheme.indexOf('/');
  const path = slash < 0 ? '' : withoutScheme.slice(slash + 1);
  return path
    .split('?')[0]!
    .replace(/^\/+|\/+$/g, '')
    .toLowerCase();
}

function signatureMatches(key: string, signedText: string, signature: string): boolean {
  const expected = createHmac('sha256', key).update(signedText, 'utf8').digest();
  const given = Buffer.from(signature, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Check `token` and return what it grants. Throws SasError when it grants nothing. */
export function verifySasToken(token: string, rules: RuleSource, now = Date.now()): Grant {
  const parsed = parseToken(token.trim());
  const expirySeconds = Number(parsed.se);
  if (!Number.isFinite(expirySeconds)) throw new SasError('the token expiry is not a number');
  const expiresAt = expirySeconds * 1000;
  if (expiresAt <= now) throw new SasError('the token has expired');
  const audience = safeDecode(parsed.sr);
  const scope = resourcePath(audience);
  const ruleName = safeDecode(parsed.skn);
  const entityName = scope.split('/')[0] ?? '';
  const candidates = [
    ...rules.namespaceRules(),
    ...(entityName ? (rules.entityRules(entityName) ?? []) : []),
  ];
  const rule = candidates.find((r) => r.keyName === ruleName);
  if (!rule) throw new SasError(`no authorization rule '${ruleName}' applies to '${audience}'`);
  const signature = safeDecode(parsed.sig);
  const valid = [rule.primaryKey, rule.secondaryKey]
    .filter((key): key is string => Boolean(key))
    .some((key) => signatureMatches(key, `${parsed.sr}\n${parsed.se}`, signature));
  if (!valid) throw new SasError('the token signature is invalid');
  const rights = new Set<AccessRight>(rule.rights);
  // Manage implies Send and Listen, as in Service Bus.
  if (rights.has('Manage')) {
    rights.add('Send');
    rights.add('Listen');
  }
  return { scope, rights, expiresAt, keyName: rule.keyName };
}

/** Does `grant` allow `right` on entity path `path` (lower case, no slashes at the ends)? */
export function grantAllows(grant: Grant, path: string, right: AccessRight, now = Date.now()): boolean {
  if (grant.expiresAt <= now || !grant.rights.has(right)) return false;
  const target = path.toLowerCase();
  return grant.scope === '' || target === grant.scope || target.startsWith(`${grant.scope}/`);
}

/** Sign a token (used by the emulator's own tests and tools; clients use the SDK's signer). */
export function signSasToken(
  audience: string,
  keyName: string,
  key: string,
  expiresAtSeconds: number,
): string {
  const sr = encodeURIComponent(audience);
  const sig = createHmac('sha256', key).update(`${sr}\n${expiresAtSeconds}`, 'utf8').digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expiresAtSeconds}&skn=${encodeURIComponent(keyName)}`;
}
