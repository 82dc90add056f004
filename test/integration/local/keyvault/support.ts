/**
 * The shared setup of the Key Vault emulator tests: a temporary local CA, the development identity
 * provider over HTTPS (so that @azure/identity's ClientSecretCredential can use it), and clients of
 * the official SDK that trust the CA through their own tlsOptions.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import {
  CryptographyClient,
  KeyClient,
  type CryptographyClientOptions,
  type KeyClientOptions,
} from '@azure/keyvault-keys';
import { ensureLocalCa, issueServerCertificate, type LocalCa } from '../../../../local/certs/index.js';
import {
  startIdentityProvider,
  type IdentityProvider,
  type MintOptions,
} from '../../../../local/identity/index.js';
import {
  startKeyVaultEmulator,
  type KeyVaultEmulator,
  type KeyVaultEmulatorOptions,
} from '../../../../local/keyvault/index.js';

export const TENANT = 'contoso';
export const VAULT_AUDIENCE = 'https://vault.azure.net';

/** Object ids of the test identities. */
export const OFFICER = '11111111-1111-4111-8111-111111111111';
export const CRYPTO_USER = '22222222-2222-4222-8222-222222222222';
export const ENCRYPTION_USER = '33333333-3333-4333-8333-333333333333';
export const NOBODY = '44444444-4444-4444-8444-444444444444';
export const ADMIN = '55555555-5555-4555-8555-555555555555';

export interface TestStack {
  dir: string;
  certsDir: string;
  ca: LocalCa;
  identity: IdentityProvider;
  emulator: KeyVaultEmulator;
  /** A credential whose tokens the identity provider mints for `oid` (real signed tokens). */
  credential(oid: string, overrides?: Partial<MintOptions>): CountingCredential;
  keyClient(credential: TokenCredential, options?: KeyClientOptions): KeyClient;
  cryptoClient(
    keyId: string,
    credential: TokenCredential,
    options?: CryptographyClientOptions,
  ): CryptographyClient;
  /** Restarts the emulator with the same options (and data dir). */
  restart(extra?: Partial<KeyVaultEmulatorOptions>): Promise<void>;
  close(): Promise<void>;
}

export interface CountingCredential extends TokenCredential {
  /** Tenants the SDK asked tokens for (from the challenge). */
  tenantsAsked: (string | undefined)[];
}

/** SDK options for a client of the emulator: trust the local CA, accept a challenge from 127.0.0.1, retry fast. */
export function clientOptions(ca: LocalCa): KeyClientOptions {
  return {
    tlsOptions: { ca: ca.caPem },
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
  };
}

export async function startStack(options: Partial<KeyVaultEmulatorOptions> = {}): Promise<TestStack> {
  const dir = await mkdtemp(join(tmpdir(), 'keyvault-test-'));
  const certsDir = join(dir, 'certs');
  const ca = await ensureLocalCa(certsDir);
  const { certPem, keyPem } = issueServerCertificate(ca, { hosts: ['127.0.0.1', 'localhost'] });
  const identity = await startIdentityProvider({ port: 0, tls: { cert: certPem, key: keyPem } });
  const emulatorOptions: KeyVaultEmulatorOptions = {
    port: 0,
    certsDir,
    inMemory: true,
    issuer: identity.issuer(TENANT),
    roleAssignments: [
      { principalId: OFFICER, role: 'Key Vault Crypto Officer' },
      { principalId: CRYPTO_USER, role: 'Key Vault Crypto User' },
    ],
    administrators: [ADMIN],
    logError: () => undefined,
    ...options,
  };
  let emulator = await startKeyVaultEmulator(emulatorOptions);

  const stack: TestStack = {
    dir,
    certsDir,
    ca,
    identity,
    get emulator() {
      return emulator;
    },
    credential(oid, overrides = {}) {
      const tenantsAsked: (string | undefined)[] = [];
      return {
        tenantsAsked,
        async getToken(_scopes: string | string[], opts?: GetTokenOptions): Promise<AccessToken> {
          tenantsAsked.push(opts?.tenantId);
          const token = await identity.mintToken({
            tenant: TENANT,
            oid,
            audience: VAULT_AUDIENCE,
            ...overrides,
          });
          // The SDK caches by this time; an expired token is reported as fresh so that it gets sent.
          return { token, expiresOnTimestamp: Date.now() + 3_600_000 };
        },
      };
    },
    keyClient: (credential, extra = {}) =>
      new KeyClient(emulator.vaultUri, credential, { ...clientOptions(ca), ...extra }),
    cryptoClient: (keyId, credential, extra = {}) =>
      new CryptographyClient(keyId, credential, { ...clientOptions(ca), ...extra }),
    async restart(extra = {}) {
      const port = emulator.port; // the same address, so that key ids stay valid
      await emulator.close();
      emulator = await startKeyVaultEmulator({ ...emulatorOptions, port, ...extra });
    },
    async close() {
      await emulator.close();
      await identity.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

/**
 * A request to the emulator's own admin endpoint (not Key Vault's API, which is only ever called
 * through the SDK here). node:https rather than fetch, because fetch cannot be given the CA.
 */
export function adminRequest(
  stack: TestStack,
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<{ status: number; body: unknown; headers: Record<string, string | string[] | undefined> }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      new URL(path, stack.emulator.vaultUri),
      {
        method,
        ca: stack.ca.caPem,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            body: raw ? (JSON.parse(raw) as unknown) : undefined,
            headers: res.headers,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** The SDK's RestError (from @azure/core-rest-pipeline, which the project does not depend on directly). */
export interface SdkRestError extends Error {
  statusCode?: number;
  code?: string;
  details?: unknown;
  response?: { headers: { get(name: string): string | undefined } };
}

function isRestError(error: unknown): error is SdkRestError {
  return error instanceof Error && error.name === 'RestError';
}

/** The status and Key Vault error code of a failed SDK call. */
export async function failure(
  promise: Promise<unknown>,
): Promise<{ status?: number; code?: string; inner?: string; error: SdkRestError }> {
  try {
    await promise;
  } catch (error) {
    if (!isRestError(error)) throw error;
    const details = error.details as
      { error?: { code?: string; innerError?: { code?: string } } } | undefined;
    return {
      ...(error.statusCode !== undefined ? { status: error.statusCode } : {}),
      ...(error.code !== undefined ? { code: error.code } : {}),
      ...(details?.error?.innerError?.code ? { inner: details.error.innerError.code } : {}),
      error,
    };
  }
  throw new Error('expected the call to fail');
}
