/**
 * The keys API's routes. The SDK asks for the current version with an empty version segment
 * (`/keys/{name}/` and `/keys/{name}//encrypt`), which is why an empty segment means "current".
 */
import { CRYPTO_OPERATIONS, type CryptoOperation } from '../crypto/operations.js';
import { DataAction } from '../rbac/roles.js';
import { badParameter, methodNotAllowed, notFound } from './errors.js';
import { KEY_NAME } from '../keys/vault.js';

export type RouteKind =
  | 'listKeys'
  | 'createKey'
  | 'importKey'
  | 'getKey'
  | 'updateKey'
  | 'deleteKey'
  | 'listVersions'
  | 'rotateKey'
  | 'backupKey'
  | 'restoreKey'
  | 'getRotationPolicy'
  | 'setRotationPolicy'
  | 'cryptoOperation'
  | 'listDeletedKeys'
  | 'getDeletedKey'
  | 'purgeDeletedKey'
  | 'recoverDeletedKey';

export interface Route {
  kind: RouteKind;
  /** The data action RBAC checks. */
  action: DataAction;
  name?: string;
  /** Empty or absent: the current version. */
  version?: string;
  operation?: CryptoOperation;
  /** Whether the request carries a JSON body. */
  hasBody: boolean;
}

const OPERATION_SEGMENTS: Readonly<Record<string, CryptoOperation>> = Object.fromEntries(
  CRYPTO_OPERATIONS.map((op) => [op.toLowerCase(), op]),
);

const OPERATION_ACTIONS: Readonly<Record<CryptoOperation, DataAction>> = {
  encrypt: DataAction.encrypt,
  decrypt: DataAction.decrypt,
  wrapKey: DataAction.wrapKey,
  unwrapKey: DataAction.unwrapKey,
  sign: DataAction.sign,
  verify: DataAction.verify,
};

type Candidate = Partial<Record<string, Omit<Route, 'name' | 'version' | 'operation'>>>;

function pick(method: string, candidates: Candidate, extra: Partial<Route>): Route {
  const found = candidates[method];
  if (!found) throw methodNotAllowed(Object.keys(candidates));
  return { ...found, ...extra };
}

function keyName(segment: string): string {
  if (!KEY_NAME.test(segment)) {
    throw badParameter(
      `The request URI contains an invalid name: ${segment}. Names are 1-127 letters, digits and dashes.`,
    );
  }
  return segment;
}

/** The route of `method` `path`; throws 404, 405 or 400 (bad key name) otherwise. */
export function matchRoute(method: string, path: string): Route {
  let segments: string[];
  try {
    segments = path
      .split('/')
      .slice(1)
      .map((s) => decodeURIComponent(s));
  } catch {
    throw badParameter('The request URI is not correctly percent-encoded.');
  }
  const [collection, rawName, third, fourth, ...rest] = segments;
  if (rest.length > 0) throw notFound();

  if (collection === 'keys') {
    if (rawName === undefined || (rawName === '' && third === undefined)) {
      return pick(method, { GET: { kind: 'listKeys', action: DataAction.readKey, hasBody: false } }, {});
    }
    // `POST /keys/restore` names no key: the name comes from the backup.
    if (rawName === 'restore' && third === undefined && method === 'POST') {
      return { kind: 'restoreKey', action: DataAction.restoreKey, hasBody: true };
    }
    const name = keyName(rawName);
    if (third === undefined || (third === '' && fourth === undefined)) {
      const candidates: Candidate = { GET: { kind: 'getKey', action: DataAction.readKey, hasBody: false } };
      if (third === undefined) {
        candidates.PUT = { kind: 'importKey', action: DataAction.importKey, hasBody: true };
        candidates.DELETE = { kind: 'deleteKey', action: DataAction.deleteKey, hasBody: false };
      }
      candidates.PATCH = { kind: 'updateKey', action: DataAction.updateKey, hasBody: true };
      return pick(method, candidates, { name, version: '' });
    }
    if (fourth === undefined) {
      switch (third) {
        case 'create':
          return pick(
            method,
            { POST: { kind: 'createKey', action: DataAction.createKey, hasBody: true } },
            { name },
          );
        case 'rotate':
          return pick(
            method,
            { POST: { kind: 'rotateKey', action: DataAction.rotateKey, hasBody: false } },
            { name },
          );
        case 'backup':
          return pick(
            method,
            { POST: { kind: 'backupKey', action: DataAction.backupKey, hasBody: false } },
            { name },
          );
        case 'versions':
          return pick(
            method,
            { GET: { kind: 'listVersions', action: DataAction.readKey, hasBody: false } },
            { name },
          );
        case 'rotationpolicy':
          return pick(
            method,
            {
              GET: { kind: 'getRotationPolicy', action: DataAction.readRotationPolicy, hasBody: false },
              PUT: { kind: 'setRotationPolicy', action: DataAction.writeRotationPolicy, hasBody: true },
            },
            { name },
          );
        default:
          return pick(
            method,
            {
              GET: { kind: 'getKey', action: DataAction.readKey, hasBody: false },
              PATCH: { kind: 'updateKey', action: DataAction.updateKey, hasBody: true },
            },
            { name, version: third },
          );
      }
    }
    const operation = OPERATION_SEGMENTS[fourth.toLowerCase()];
    if (!operation) throw notFound();
    return pick(
      method,
      { POST: { kind: 'cryptoOperation', action: OPERATION_ACTIONS[operation], hasBody: true } },
      { name, version: third, operation },
    );
  }

  if (collection === 'deletedkeys') {
    if (rawName === undefined || (rawName === '' && third === undefined)) {
      return pick(
        method,
        { GET: { kind: 'listDeletedKeys', action: DataAction.readDeletedKey, hasBody: false } },
        {},
      );
    }
    const name = keyName(rawName);
    if (third === undefined) {
      return pick(
        method,
        {
          GET: { kind: 'getDeletedKey', action: DataAction.readDeletedKey, hasBody: false },
          DELETE: { kind: 'purgeDeletedKey', action: DataAction.purgeDeletedKey, hasBody: false },
        },
        { name },
      );
    }
    if (third === 'recover' && fourth === undefined) {
      return pick(
        method,
        { POST: { kind: 'recoverDeletedKey', action: DataAction.recoverDeletedKey, hasBody: false } },
        { name },
      );
    }
  }
  throw notFound();
}
