/** The keys API: a matched route, its parsed body and the vault give Key Vault's response. */
import { performOperation, type OperationRequest } from '../crypto/operations.js';
import {
  deletedKeyBundle,
  deletedKeyItem,
  keyBundle,
  keyId,
  keyItem,
  rotationPolicyBody,
  type Retention,
} from '../keys/bundle.js';
import { latestVersion, type StoredKey } from '../keys/model.js';
import {
  CreateKeyRequest,
  ImportKeyRequest,
  parseRequest,
  parseRotationPolicy,
  UpdateKeyRequest,
} from '../keys/requests.js';
import type { KeyVault } from '../keys/vault.js';
import { decodeBase64url, encodeBase64url } from '../crypto/base64url.js';
import { badParameter } from './errors.js';
import type { Route } from './routes.js';

export interface KeysRequest {
  route: Route;
  body: unknown;
  /** https://host:port of the request: ids name the host the caller used. */
  vaultUrl: string;
  query: URLSearchParams;
  apiVersion: string;
  /** Items per page when the caller gives no maxresults. Default (and Key Vault's): 25. */
  pageSize?: number;
}

export interface KeysResponse {
  status: number;
  body?: unknown;
}

/** Key Vault's page size: 25 at most, and by default. */
export const MAX_PAGE_SIZE = 25;

export async function handleKeysRequest(vault: KeyVault, request: KeysRequest): Promise<KeysResponse> {
  const { route, vaultUrl } = request;
  const retention: Retention = { days: vault.retentionDays };
  const name = route.name ?? '';
  const ok = (body: unknown): KeysResponse => ({ status: 200, body });

  switch (route.kind) {
    case 'listKeys':
      return ok(
        page(request, 'keys', vault.listKeys(), byName, (key) =>
          keyItem(vaultUrl, key, latestVersion(key), retention, false),
        ),
      );
    case 'listVersions': {
      const key = vault.find(name).key;
      return ok(
        page(
          request,
          `keys/${key.name}/versions`,
          vault.listVersions(name),
          (version) => version.version.toUpperCase(),
          (version) => keyItem(vaultUrl, key, version, retention, true),
        ),
      );
    }
    case 'getKey': {
      const { key, version } = vault.find(name, route.version);
      return ok(keyBundle(vaultUrl, key, version, retention));
    }
    case 'createKey': {
      const { key, version } = await vault.createKey(name, parseRequest(CreateKeyRequest, request.body));
      return ok(keyBundle(vaultUrl, key, version, retention));
    }
    case 'importKey': {
      const { key, version } = await vault.importKey(name, parseRequest(ImportKeyRequest, request.body));
      return ok(keyBundle(vaultUrl, key, version, retention));
    }
    case 'updateKey': {
      const { key, version } = await vault.updateKey(
        name,
        route.version,
        parseRequest(UpdateKeyRequest, request.body),
      );
      return ok(keyBundle(vaultUrl, key, version, retention));
    }
    case 'rotateKey': {
      const { key, version } = await vault.rotateKey(name);
      return ok(keyBundle(vaultUrl, key, version, retention));
    }
    case 'backupKey':
      return ok({ value: encodeBase64url(vault.backup(name)) });
    case 'restoreKey': {
      const body = (request.body ?? {}) as { value?: unknown };
      const { key, version } = await vault.restore(decodeBase64url(body.value, 'value'));
      return ok(keyBundle(vaultUrl, key, version, retention));
    }
    case 'getRotationPolicy': {
      const key = vault.find(name).key;
      return ok(rotationPolicyBody(vaultUrl, key.name, vault.rotationPolicy(name)));
    }
    case 'setRotationPolicy': {
      const key = await vault.setRotationPolicy(name, parseRotationPolicy(request.body));
      return ok(rotationPolicyBody(vaultUrl, key.name, key.rotationPolicy));
    }
    case 'deleteKey': {
      const { key, version } = await vault.deleteKey(name);
      return ok(deletedKeyBundle(vaultUrl, key, version, retention));
    }
    case 'listDeletedKeys':
      return ok(
        page(request, 'deletedkeys', vault.listDeletedKeys(), byName, (key) =>
          deletedKeyItem(vaultUrl, key, latestVersion(key), retention),
        ),
      );
    case 'getDeletedKey': {
      const { key, version } = vault.findDeleted(name);
      return ok(deletedKeyBundle(vaultUrl, key, version, retention));
    }
    case 'purgeDeletedKey':
      await vault.purgeDeletedKey(name);
      return { status: 204 };
    case 'recoverDeletedKey': {
      const { key, version } = await vault.recoverDeletedKey(name);
      return ok(keyBundle(vaultUrl, key, version, retention));
    }
    case 'cryptoOperation': {
      const { key, version } = vault.find(name, route.version);
      const body = (request.body ?? {}) as OperationRequest;
      if (typeof body !== 'object' || Array.isArray(body))
        throw badParameter('The request body must be a JSON object.');
      const result = performOperation(version, route.operation!, body);
      return ok(
        route.operation === 'verify'
          ? result
          : { kid: keyId(vaultUrl, key.name, version.version), ...result },
      );
    }
  }
}

/**
 * Paging with a cursor, as Key Vault's opaque `$skiptoken` (a marker in a stable order, not a position):
 * items are listed in the order of their sort key (names case-insensitively, versions by id), and the
 * token names the collection and the last key returned. A page after it starts at the first key greater
 * than that, so an item that exists throughout the listing is returned exactly once however many keys or
 * versions are created, disabled or deleted between pages; one created or deleted meanwhile may or may
 * not appear.
 */
interface PageToken {
  /** The collection path, lower case. */
  c: string;
  /** The sort key of the last item returned. */
  after: string;
}

function byName(key: StoredKey): string {
  return key.name.toUpperCase();
}

function page<T>(
  request: KeysRequest,
  collectionPath: string,
  items: readonly T[],
  sortKey: (item: T) => string,
  toItem: (item: T) => Record<string, unknown>,
): { value: Record<string, unknown>[]; nextLink: string | null } {
  const rawSize = request.query.get('maxresults');
  const size = rawSize === null || rawSize === '' ? (request.pageSize ?? MAX_PAGE_SIZE) : Number(rawSize);
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw badParameter(
      `Property maxresults has invalid value: it must be an integer from 1 to ${MAX_PAGE_SIZE}.`,
    );
  }
  const collection = collectionPath.toLowerCase();
  const after = skipTokenCursor(request.query.get('$skiptoken'), collection);
  const sorted = items
    .map((item) => ({ key: sortKey(item), item }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const start = after === undefined ? 0 : sorted.findIndex((entry) => entry.key > after);
  const chunk = start < 0 ? [] : sorted.slice(start, start + size);
  const last = chunk[chunk.length - 1];
  if (!last || start + size >= sorted.length)
    return { value: chunk.map((e) => toItem(e.item)), nextLink: null };
  const token = Buffer.from(JSON.stringify({ c: collection, after: last.key } satisfies PageToken)).toString(
    'base64url',
  );
  const query = new URLSearchParams({
    'api-version': request.apiVersion,
    $skiptoken: token,
    maxresults: String(size),
  });
  return {
    value: chunk.map((e) => toItem(e.item)),
    nextLink: `${request.vaultUrl}/${collectionPath}?${query.toString()}`,
  };
}

function skipTokenCursor(token: string | null, collection: string): string | undefined {
  if (!token) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<PageToken>;
    if (parsed.c === collection && typeof parsed.after === 'string') return parsed.after;
  } catch {
    // fall through
  }
  throw badParameter('Property $skiptoken has invalid value.');
}
