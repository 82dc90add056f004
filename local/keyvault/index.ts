/**
 * The Key Vault emulator (docs/local-development.md): the keys REST API of Azure Key Vault over HTTPS, for the
 * unmodified @azure/keyvault-keys SDK, with Key Vault's challenge authentication, RBAC, soft delete,
 * throttling and errors. A library for tests and `npm start`; the command is cli.ts.
 *
 * Layout: http/ (server, auth, routes, errors, admin endpoint), keys/ (the vault's keys and their
 * stores), crypto/ (key material and operations), rbac/ (roles and assignments), throttle/.
 */
import { randomBytes } from 'node:crypto';
import { ensureLocalCa, issueServerCertificate } from '../certs/index.js';
import { createAuthenticator } from './http/auth.js';
import { MAX_PAGE_SIZE } from './http/keys-api.js';
import { startServer } from './http/server.js';
import { RequestStats } from './http/request-stats.js';
import { createTrustedFetch } from '../entra/trusted-fetch.js';
import { BACKUP_KEY_BYTES, loadOrCreateBackupKey, parseBackupKey } from './keys/backup-key.js';
import { FileKeyStore } from './keys/file-store.js';
import { MemoryKeyStore } from './keys/memory-store.js';
import type { KeyStore } from './keys/store.js';
import { KeyVault } from './keys/vault.js';
import { VaultRoleAssignments, type RoleAssignment, type RoleAssignmentInput } from './rbac/assignments.js';
import { ThrottleLimiter, type ThrottleOptions } from './throttle/limiter.js';

export { ROLES, DataAction, type RoleDefinition } from './rbac/roles.js';
export type { RoleAssignment, RoleAssignmentInput } from './rbac/assignments.js';
export { DEFAULT_THROTTLE_LIMITS, type ThrottleCategory, type ThrottleOptions } from './throttle/limiter.js';
export { KEY_VAULT_RESOURCE, KEY_VAULT_AUDIENCES } from './http/auth.js';
export { MAX_PAGE_SIZE } from './http/keys-api.js';
export { readKeyVaultConfig, type KeyVaultConfig } from './config.js';

export const DEFAULT_KEYVAULT_PORT = 8443;
export const DEFAULT_KEYVAULT_HOST = '127.0.0.1';
export const DEFAULT_KEYVAULT_DATA_DIR = '.local/keyvault';
export const DEFAULT_CERTS_DIR = '.local/certs';
/** The issuer of `npm start`'s identity provider (served over HTTPS) for the demo tenant. */
export const DEFAULT_KEYVAULT_ISSUER = 'https://127.0.0.1:7072/contoso/v2.0';

export interface KeyVaultEmulatorOptions {
  /** Default 8443; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Folder of the local CA (created if missing). Default `.local/certs`. */
  certsDir?: string;
  /** Where keys are kept. Default `.local/keyvault`. Ignored with `inMemory`. */
  dataDir?: string;
  /** Keep keys in memory only: nothing is written to disk. */
  inMemory?: boolean;
  /**
   * The one issuer whose tokens the vault accepts (a vault belongs to one tenant), e.g.
   * `https://127.0.0.1:7072/contoso/v2.0`. The 401 challenge names `{issuer without /v2.0}` as authority.
   */
  issuer?: string;
  /** An extra CA trusted when fetching the issuer's discovery document and keys. Default: the local CA. */
  issuerCaPem?: string;
  roleAssignments?: readonly RoleAssignmentInput[];
  /** Object ids allowed to use the admin endpoint (`/.emulator/role-assignments`). */
  administrators?: readonly string[];
  /**
   * Key Vault's service limits: off unless given (`true` for Key Vault's own limits). Creating,
   * importing and rotating keys count as creations; a 429 carries no Retry-After, as Key Vault's,
   * unless `retryAfter: true`.
   */
  throttle?: boolean | ThrottleOptions;
  /**
   * Items per page of the list operations when the caller gives no `maxresults` (1 to 25; Key
   * Vault's, and the default, is 25). Small values let tests exercise paging through code that
   * iterates without asking for a page size.
   */
  pageSize?: number;
  /**
   * The key that seals key backups, base64 of 32 bytes: emulators given the same one restore each
   * other's backups. Default: `<dataDir>/backup-key` (created once), or a new one per start in memory.
   */
  backupKey?: string;
  /** Soft-delete retention, 7 to 90 days. Default 90. */
  softDeleteRetentionDays?: number;
  /** Timeout of each request to the issuer. Default 5 s. */
  issuerTimeoutMs?: number;
  logError?: (message: string) => void;
}

export interface KeyVaultEmulator {
  /** e.g. https://127.0.0.1:8443 — KEYVAULT_URI for the app. */
  vaultUri: string;
  port: number;
  issuer: string;
  /** The local CA certificate file: NODE_EXTRA_CA_CERTS for callers. */
  caPath: string;
  caPem: string;
  /** Where keys are kept, or undefined in memory. */
  dataDir: string | undefined;
  assignRole(assignment: RoleAssignmentInput): RoleAssignment;
  removeRoleAssignment(id: string): boolean;
  roleAssignments(): RoleAssignment[];
  /** How many requests were answered 429 since start. */
  throttledRequests(): number;
  close(): Promise<void>;
}

export async function startKeyVaultEmulator(
  options: KeyVaultEmulatorOptions = {},
): Promise<KeyVaultEmulator> {
  const host = options.host ?? DEFAULT_KEYVAULT_HOST;
  const issuer = options.issuer ?? DEFAULT_KEYVAULT_ISSUER;
  const retentionDays = options.softDeleteRetentionDays ?? 90;
  if (!Number.isInteger(retentionDays) || retentionDays < 7 || retentionDays > 90) {
    throw new RangeError('softDeleteRetentionDays must be an integer from 7 to 90');
  }
  const pageSize = options.pageSize ?? MAX_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new RangeError(`pageSize must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  const ca = await ensureLocalCa(options.certsDir ?? DEFAULT_CERTS_DIR);
  const hosts = [...new Set([host, '127.0.0.1', 'localhost'])].filter((h) => h !== '0.0.0.0' && h !== '::');
  const { certPem, keyPem } = issueServerCertificate(ca, { hosts });

  const dataDir = options.inMemory ? undefined : (options.dataDir ?? DEFAULT_KEYVAULT_DATA_DIR);
  const backupKey = options.backupKey
    ? parseBackupKey(options.backupKey, 'backupKey')
    : dataDir
      ? await loadOrCreateBackupKey(dataDir)
      : randomBytes(BACKUP_KEY_BYTES);
  const store: KeyStore = dataDir ? await FileKeyStore.open(dataDir) : new MemoryKeyStore();
  const roleAssignments = new VaultRoleAssignments(options.roleAssignments ?? []);
  const throttle =
    options.throttle === undefined || options.throttle === false
      ? undefined
      : new ThrottleLimiter(options.throttle === true ? {} : options.throttle);
  const authenticator = createAuthenticator({
    issuer,
    fetch: createTrustedFetch(options.issuerCaPem ?? ca.caPem, options.issuerTimeoutMs ?? 5_000),
  });

  let server;
  try {
    server = await startServer({
      host,
      port: options.port ?? DEFAULT_KEYVAULT_PORT,
      tls: { cert: certPem, key: keyPem },
      vault: new KeyVault(store, retentionDays, backupKey),
      authenticator,
      roleAssignments,
      administrators: new Set((options.administrators ?? []).map((oid) => oid.toLowerCase())),
      ...(throttle ? { throttle } : {}),
      pageSize,
      stats: new RequestStats(),
      logError: options.logError ?? ((message) => console.error(message)),
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    vaultUri: `https://${urlHost}:${server.port}`,
    port: server.port,
    issuer,
    caPath: ca.caPath,
    caPem: ca.caPem,
    dataDir,
    assignRole: (assignment) => roleAssignments.assign(assignment),
    removeRoleAssignment: (id) => roleAssignments.remove(id),
    roleAssignments: () => roleAssignments.list(),
    throttledRequests: () => throttle?.refused() ?? 0,
    close: async () => {
      await server.close();
      await store.close();
    },
  };
}
