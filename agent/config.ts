/**
 * The agent's configuration: one JSON file (what enabling the tenant returned, plus the directory),
 * secrets from the environment or from files, validated once at start. A problem is a
 * ConfigurationError whose message names the field and what is expected, never a value.
 *
 * A secret is written as a string (kept in the file), `{ "env": "NAME" }` (read from the
 * environment) or `{ "file": "path" }` (read from a file, trailing newline dropped). Relative paths
 * are relative to the configuration file. `HEARTBEAT_INTERVAL` in the environment overrides the
 * file's `heartbeatInterval`. Where the two connection strings came from is kept
 * (`connectionStringSources`), so that a key rollover can write their new values back.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseServiceBusConnectionString } from '@azure/service-bus';
import { z } from 'zod';
import { ConfigurationError } from '../shared/errors/index.js';
import { isoDurationToMs } from '../shared/domain/index.js';
import {
  encryptionKeyName,
  isWireTenantId,
  parseKeyId,
  repliesQueueName,
  requestQueueName,
  signatureKeyName,
} from '../shared/wire/index.js';
import { vaultOrigin } from '../shared/azure/index.js';
import type { DirectoryPolicy } from '../shared/domain/index.js';

/** A secret as the file gives it; resolved by {@link loadAgentConfig}. */
const SecretInput = z.union([
  z.string().min(1, 'must not be empty'),
  z.strictObject({ env: z.string().min(1) }),
  z.strictObject({ file: z.string().min(1) }),
]);

const Duration = (min: number, max: number) =>
  z.string().transform((text, ctx) => {
    let ms: number;
    try {
      ms = isoDurationToMs(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 duration such as PT5M' });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `must be between ${min / 1000} s and ${max / 1000} s` });
      return z.NEVER;
    }
    return ms;
  });

const PolicyInput = z.strictObject({
  minLength: z.number().int().min(0).max(256).optional(),
  complexity: z.boolean().optional(),
  historyLength: z.number().int().min(0).max(24).optional(),
  minimumAgeSeconds: z.number().int().min(0).optional(),
  lockoutThreshold: z.number().int().min(0).max(999).optional(),
});

const MemoryUser = z.strictObject({
  userPrincipalName: z.string().min(3).includes('@', { message: 'must be a UPN (name@domain)' }),
  password: SecretInput,
  sid: z.string().optional(),
  displayName: z.string().optional(),
  adminCount: z.number().int().min(0).max(1).optional(),
  disabled: z.boolean().optional(),
  mustChangePassword: z.boolean().optional(),
});

const Directory = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('ldap'),
    url: z.string().regex(/^ldaps?:\/\/[^/]+\/?$/i, 'must be ldaps://host[:port] or ldap://host[:port]'),
    startTls: z.boolean().optional(),
    caCertificateFile: z.string().min(1),
    tlsServerName: z.string().min(1).optional(),
    baseDn: z.string().min(3),
    bindDn: z.string().min(1),
    bindPassword: SecretInput,
    poolSize: z.number().int().min(1).max(64).optional(),
  }),
  z.strictObject({
    kind: z.literal('memory'),
    users: z.array(MemoryUser).max(10_000).default([]),
    policy: PolicyInput.optional(),
  }),
]);

const FileSchema = z.strictObject({
  tenantId: z.string().refine(isWireTenantId, 'must be a lower-case tenant id (letters, digits, hyphens)'),
  agentId: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1-128 letters, digits, dots, colons, hyphens or underscores')
    .optional(),
  serviceBus: z.strictObject({
    /** The Listen-only connection string of `writeback-{t}` (from enablement). */
    requestsConnectionString: SecretInput,
    /** The Send-only connection string of `writeback-{t}-replies` (from enablement). */
    repliesConnectionString: SecretInput,
  }),
  keyVault: z.strictObject({
    url: z.string(),
    /** Optional: as enablement returns them; checked against the vault and the tenant. */
    encryptionKeyId: z.string().optional(),
    signatureKeyId: z.string().optional(),
    credential: z.strictObject({
      tenantId: z.string().min(1),
      clientId: z.string().min(1),
      clientSecret: SecretInput,
      /** Another authority than Entra ID's public cloud, e.g. the local identity provider. */
      authorityHost: z.url({ protocol: /^https$/ }).optional(),
    }),
    /** An extra CA to trust for the vault and the authority (the local CA); NODE_EXTRA_CA_CERTS works too. */
    caCertificateFile: z.string().min(1).optional(),
  }),
  directory: Directory,
  heartbeatInterval: Duration(1000, 24 * 3_600_000).default(5 * 60_000),
  concurrency: z.number().int().min(1).max(256).default(8),
  stateDirectory: z.string().min(1),
  /** Port of the local health endpoint on 127.0.0.1; 0 picks a free one. */
  healthPort: z.number().int().min(0).max(65535).default(0),
  /** How long a graceful stop waits for operations in flight. */
  shutdownTimeout: Duration(0, 10 * 60_000).default(30_000),
});

type FileConfig = z.infer<typeof FileSchema>;

export type LdapDirectoryConfig = {
  kind: 'ldap';
  url: string;
  startTls: boolean;
  caCertificate: string;
  tlsServerName?: string;
  baseDn: string;
  bindDn: string;
  bindPassword: string;
  poolSize?: number;
};

export type MemoryDirectoryConfig = {
  kind: 'memory';
  users: {
    userPrincipalName: string;
    password: string;
    sid?: string;
    displayName?: string;
    adminCount?: number;
    disabled?: boolean;
    mustChangePassword?: boolean;
  }[];
  policy: Partial<DirectoryPolicy>;
};

/**
 * Where a secret came from: a string in the configuration file (`configFile` when it was read from
 * a file), an environment variable, or a file (absolute path).
 */
export type SecretSource =
  { kind: 'inline'; configFile?: string } | { kind: 'env'; name: string } | { kind: 'file'; path: string };

/** The secrets a key rollover replaces, by their field under `serviceBus`. */
export type ConnectionStringField = 'requestsConnectionString' | 'repliesConnectionString';

/** The validated configuration, secrets resolved. Never log it as a whole. */
export interface AgentConfig {
  tenantId: string;
  agentId: string;
  requestQueue: string;
  repliesQueue: string;
  requestsConnectionString: string;
  repliesConnectionString: string;
  /** Where the two connection strings came from (no values). */
  connectionStringSources: Record<ConnectionStringField, SecretSource>;
  keyVault: {
    url: string;
    credential: { tenantId: string; clientId: string; clientSecret: string; authorityHost?: string };
    caCertificate?: string;
  };
  directory: LdapDirectoryConfig | MemoryDirectoryConfig;
  heartbeatIntervalMs: number;
  concurrency: number;
  stateDirectory: string;
  healthPort: number;
  shutdownTimeoutMs: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function issuePath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.') || '(the file)';
}

/**
 * Parses and checks a configuration object; `baseDir` resolves relative paths. `configFile` is the
 * file it was read from, if any (a key rollover rewrites inline connection strings there).
 */
export function parseAgentConfig(
  input: unknown,
  baseDir: string,
  env: Env = process.env,
  configFile?: string,
): AgentConfig {
  const withEnv =
    env['HEARTBEAT_INTERVAL'] && typeof input === 'object' && input !== null
      ? { ...input, heartbeatInterval: env['HEARTBEAT_INTERVAL'] }
      : input;
  const parsed = FileSchema.safeParse(withEnv);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issuePath(issue.path);
    const more = parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more)` : '';
    throw new ConfigurationError(
      field === 'heartbeatInterval' && env['HEARTBEAT_INTERVAL'] ? 'HEARTBEAT_INTERVAL' : field,
      `${issue.message}${more}`,
    );
  }
  return resolveConfig(parsed.data, baseDir, env, configFile);
}

function readSecret(source: z.infer<typeof SecretInput>, field: string, baseDir: string, env: Env): string {
  if (typeof source === 'string') return source;
  if ('env' in source) {
    const value = env[source.env];
    if (!value) throw new ConfigurationError(field, `environment variable ${source.env} is not set`);
    return value;
  }
  return readText(source.file, field, baseDir).replace(/\r?\n$/, '');
}

function sourceOf(
  source: z.infer<typeof SecretInput>,
  baseDir: string,
  configFile: string | undefined,
): SecretSource {
  if (typeof source === 'string') return configFile ? { kind: 'inline', configFile } : { kind: 'inline' };
  if ('env' in source) return { kind: 'env', name: source.env };
  return { kind: 'file', path: resolve(baseDir, source.file) };
}

function readText(file: string, field: string, baseDir: string): string {
  try {
    const text = readFileSync(resolve(baseDir, file), 'utf8');
    if (!text.trim()) throw new Error('empty');
    return text;
  } catch {
    throw new ConfigurationError(field, `file ${file} cannot be read or is empty`);
  }
}

function checkConnectionString(value: string, field: string, queue: string): string {
  let entityPath: string | undefined;
  try {
    entityPath = parseServiceBusConnectionString(value).entityPath;
  } catch {
    throw new ConfigurationError(field, 'expected a Service Bus connection string (Endpoint=sb://…)');
  }
  if (entityPath !== undefined && entityPath !== queue) {
    throw new ConfigurationError(field, `its EntityPath must be ${queue}`);
  }
  return value;
}

function checkKeyId(keyId: string | undefined, field: string, vaultUrl: string, name: string): void {
  if (keyId === undefined) return;
  const versioned = keyId.replace(/\/$/, '').split('/').length === 6;
  let parsed;
  try {
    parsed = versioned ? parseKeyId(keyId) : parseKeyId(`${keyId.replace(/\/$/, '')}/latest`);
  } catch {
    throw new ConfigurationError(field, 'expected a key id, https://{vault}/keys/{name}[/{version}]');
  }
  if (parsed.vaultUrl !== vaultUrl) throw new ConfigurationError(field, `must be a key of ${vaultUrl}`);
  if (parsed.name !== name) throw new ConfigurationError(field, `must name key ${name}`);
}

function resolveConfig(
  file: FileConfig,
  baseDir: string,
  env: Env,
  configFile: string | undefined,
): AgentConfig {
  const tenantId = file.tenantId;
  let vaultUrl: string;
  try {
    vaultUrl = vaultOrigin(file.keyVault.url);
  } catch (error) {
    throw new ConfigurationError(
      'keyVault.url',
      (error as Error).message.replace(/^Invalid vault URL: /, ''),
    );
  }
  checkKeyId(
    file.keyVault.encryptionKeyId,
    'keyVault.encryptionKeyId',
    vaultUrl,
    encryptionKeyName(tenantId),
  );
  checkKeyId(file.keyVault.signatureKeyId, 'keyVault.signatureKeyId', vaultUrl, signatureKeyName(tenantId));
  const requestQueue = requestQueueName(tenantId);
  const repliesQueue = repliesQueueName(tenantId);
  const { credential } = file.keyVault;
  const directory: AgentConfig['directory'] =
    file.directory.kind === 'ldap'
      ? {
          kind: 'ldap',
          url: file.directory.url,
          startTls: file.directory.startTls ?? false,
          caCertificate: readText(file.directory.caCertificateFile, 'directory.caCertificateFile', baseDir),
          ...(file.directory.tlsServerName ? { tlsServerName: file.directory.tlsServerName } : {}),
          baseDn: file.directory.baseDn,
          bindDn: file.directory.bindDn,
          bindPassword: readSecret(file.directory.bindPassword, 'directory.bindPassword', baseDir, env),
          ...(file.directory.poolSize ? { poolSize: file.directory.poolSize } : {}),
        }
      : {
          kind: 'memory',
          users: file.directory.users.map((user, i) => ({
            ...user,
            password: readSecret(user.password, `directory.users.${i}.password`, baseDir, env),
          })),
          policy: file.directory.policy ?? {},
        };
  if (directory.kind === 'ldap' && directory.url.toLowerCase().startsWith('ldap://') && !directory.startTls) {
    throw new ConfigurationError(
      'directory.startTls',
      'set it to true with an ldap:// URL (or use ldaps://)',
    );
  }
  return {
    tenantId,
    agentId: file.agentId ?? defaultAgentId(),
    requestQueue,
    repliesQueue,
    requestsConnectionString: checkConnectionString(
      readSecret(
        file.serviceBus.requestsConnectionString,
        'serviceBus.requestsConnectionString',
        baseDir,
        env,
      ),
      'serviceBus.requestsConnectionString',
      requestQueue,
    ),
    repliesConnectionString: checkConnectionString(
      readSecret(file.serviceBus.repliesConnectionString, 'serviceBus.repliesConnectionString', baseDir, env),
      'serviceBus.repliesConnectionString',
      repliesQueue,
    ),
    connectionStringSources: {
      requestsConnectionString: sourceOf(file.serviceBus.requestsConnectionString, baseDir, configFile),
      repliesConnectionString: sourceOf(file.serviceBus.repliesConnectionString, baseDir, configFile),
    },
    keyVault: {
      url: vaultUrl,
      credential: {
        tenantId: credential.tenantId,
        clientId: credential.clientId,
        clientSecret: readSecret(credential.clientSecret, 'keyVault.credential.clientSecret', baseDir, env),
        ...(credential.authorityHost ? { authorityHost: credential.authorityHost } : {}),
      },
      ...(file.keyVault.caCertificateFile
        ? { caCertificate: readText(file.keyVault.caCertificateFile, 'keyVault.caCertificateFile', baseDir) }
        : {}),
    },
    directory,
    heartbeatIntervalMs: file.heartbeatInterval,
    concurrency: file.concurrency,
    stateDirectory: resolve(baseDir, file.stateDirectory),
    healthPort: file.healthPort,
    shutdownTimeoutMs: file.shutdownTimeout,
  };
}

function defaultAgentId(): string {
  const name = hostname()
    .replace(/[^A-Za-z0-9._:-]/g, '-')
    .slice(0, 120);
  return name || 'agent';
}

/** Reads and checks the configuration file at `path`. Throws ConfigurationError. */
export function loadAgentConfig(path: string, env: Env = process.env): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigurationError('--config', `file ${path} cannot be read`);
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch {
    throw new ConfigurationError('--config', `file ${path} is not valid JSON`);
  }
  return parseAgentConfig(input, dirname(resolve(path)), env, resolve(path));
}
