/**
 * The whole pipeline on real parts: the app in the local Functions host (startCloud: Azurite, the
 * identity provider, both emulators), a tenant enabled through the real admin route, and the
 * reference agent (in this process) with an in-memory directory holding the demo users (docs/local-development.md),
 * configured with exactly what enabling answered. Tests drive it over HTTP, as a portal would.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgent, type AgentDependencies, type RunningAgent } from '../../agent/agent.js';
import { parseAgentConfig } from '../../agent/config.js';
import { DEMO_USER_PASSWORD, DEMO_USERS, demoAgentConfigFile } from '../../agent/demo-config.js';
import {
  DEMO_POLICY,
  InMemoryDirectory,
  type DirectoryDriver,
  type SeedUser,
} from '../../agent/directory/index.js';
import { jsonLogger } from '../../agent/log.js';
import { DEV_IDENTITIES, SERVICE_TENANT } from '../../local/stack/identities.js';
import { encryptionKeyName, signatureKeyName } from '../../shared/wire/index.js';
import { startAppHost } from './app.js';
import { startCloud, type CloudOptions, type CloudUnderTest } from './cloud.js';
import type { FunctionsHost } from '../../local/functions-host/index.js';

export const ADMIN_ROLE = 'Writeback.Admin';
export { DEMO_USER_PASSWORD };

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

export interface PipelineUnderTest {
  cloud: CloudUnderTest;
  tenantId: string;
  /** What enabling the tenant answered for its agent: Listen on the request queue, Send on the replies queue. */
  agentConnectionStrings: { listen: string; send: string };
  /** The agent's directory: tests read and change users directly (the in-memory one unless one was given). */
  directory: DirectoryDriver;
  agent(): RunningAgent | undefined;
  /** Every line the agent logged. */
  agentLogs(): string[];
  startAgent(): Promise<RunningAgent>;
  stopAgent(): Promise<void>;
  /**
   * The agent's configuration file content (what enabling answered, the demo users), for another
   * agent of the tenant, e.g. one run as a process (`agentId`, `stateDirectory` and more overridden).
   */
  agentConfigFile(overrides?: Record<string, unknown>): Record<string, unknown>;
  /** A caller's token of the pipeline's tenant (or another). */
  token(options?: {
    user?: string;
    admin?: boolean;
    tenant?: string;
    sid?: string;
    lifetimeSeconds?: number;
    notBefore?: Date;
    audience?: string;
  }): Promise<string>;
  /** A request to the API (path under /api) with a bearer token. */
  call(
    method: string,
    route: string,
    options?: {
      token?: string;
      body?: unknown;
      /** Sent as it is: bytes get no content-type unless `headers` gives one (a string gets text/plain). */
      rawBody?: string | Uint8Array;
      headers?: Record<string, string>;
      api?: string;
    },
  ): Promise<HttpAnswer>;
  /** Resolves once the status route (of `api`, default the first host) says the tenant is online. */
  untilOnline(api?: string, timeoutMs?: number): Promise<void>;
  /** Starts a second host of the same app and settings (many instances, one pipeline). */
  startSecondHost(env?: Record<string, string>): Promise<FunctionsHost>;
  stop(): Promise<void>;
}

export interface PipelineOptions extends CloudOptions {
  tenantId?: string;
  /** Users of the in-memory directory; default: the demo users with DEMO_USER_PASSWORD. */
  users?: SeedUser[];
  /** Start the agent (default true). */
  agent?: boolean;
  /** The agent's directory instead of the in-memory one (e.g. an LdapDirectory on a Samba DC); not closed here. */
  directory?: DirectoryDriver;
  /** The in-process agent's options, over the test defaults (short backoffs, few retries). */
  agentOptions?: Omit<AgentDependencies, 'directory' | 'logger'>;
  /** Its configuration, over the demo agent's (e.g. `agentId`). */
  agentConfig?: Record<string, unknown>;
}

export async function startPipeline(options: PipelineOptions = {}): Promise<PipelineUnderTest> {
  const tenantId = options.tenantId ?? 'contoso';
  const cloud = await startCloud({
    sharedRepliesQueue: true,
    ...options,
    env: { HEARTBEAT_INTERVAL: 'PT2S', WRITEBACK_KEY_PROTECTION: 'software', ...options.env },
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'writeback-pipeline-'));
  const extraHosts: FunctionsHost[] = [];
  let agent: RunningAgent | undefined;
  const logs: string[] = [];
  const directory: DirectoryDriver =
    options.directory ??
    new InMemoryDirectory({
      users:
        options.users ??
        DEMO_USERS.map((user) => ({
          ...user,
          userPrincipalName: user.userPrincipalName.replace('contoso.test', `${tenantId}.test`),
          password: DEMO_USER_PASSWORD,
        })),
      policy: DEMO_POLICY,
    });

  const token: PipelineUnderTest['token'] = (o = {}) =>
    cloud.identity.mintToken({
      tenant: o.tenant ?? tenantId,
      upn: o.user ?? `alice@${tenantId}.test`,
      ...(o.admin ? { roles: [ADMIN_ROLE] } : {}),
      ...(o.sid ? { onPremisesSid: o.sid } : {}),
      ...(o.lifetimeSeconds !== undefined ? { lifetimeSeconds: o.lifetimeSeconds } : {}),
      ...(o.notBefore ? { notBefore: o.notBefore } : {}),
      ...(o.audience ? { audience: o.audience } : {}),
    });

  const call: PipelineUnderTest['call'] = async (method, route, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let body: string | Uint8Array | undefined;
    if (o.rawBody !== undefined) body = o.rawBody;
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${o.api ?? cloud.api}${route}`, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    const text = await response.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = {};
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  };

  try {
    // The demo agent's identity may decrypt and sign with this tenant's keys only.
    for (const key of [encryptionKeyName(tenantId), signatureKeyName(tenantId)]) {
      cloud.keyVault.assignRole({
        principalId: DEV_IDENTITIES.demoAgent.objectId,
        role: 'Key Vault Crypto User',
        scope: `/keys/${key}`,
      });
    }
    const enabled = await call('PUT', `/tenants/${tenantId}/writeback`, {
      token: await token({ admin: true }),
    });
    const strings = enabled.body.agentConnectionStrings as { listen: string; send: string } | undefined;
    if (enabled.status !== 201 || !strings) {
      throw new Error(`enabling ${tenantId} answered ${enabled.status}: ${enabled.text}`);
    }
    const configFile = {
      ...demoAgentConfigFile({
        requestsConnectionString: strings.listen,
        repliesConnectionString: strings.send,
        vaultUrl: cloud.faults?.vaultUri ?? cloud.keyVault.vaultUri,
        credential: {
          tenantId: SERVICE_TENANT,
          clientId: DEV_IDENTITIES.demoAgent.clientId,
          clientSecret: DEV_IDENTITIES.demoAgent.clientSecret,
          authorityHost: cloud.identity.url,
        },
        caCertificateFile: cloud.ca.caPath,
        stateDirectory: path.join(dir, 'agent-state'),
        heartbeatInterval: options.env?.HEARTBEAT_INTERVAL ?? 'PT2S',
      }),
      tenantId,
      agentId: `test-agent-${tenantId}`,
      ...options.agentConfig,
    };
    const startTheAgent = async () => {
      const config = parseAgentConfig(configFile, dir, {});
      agent = await startAgent(config, {
        directory,
        logger: jsonLogger({ tenant: tenantId }, (line) => {
          logs.push(line);
          if (process.env['AGENT_TEST_LOGS']) process.stderr.write(line);
        }),
        keyVaultClientOptions: { retryOptions: { maxRetries: 0 } },
        serviceBusClientOptions: { retryOptions: { maxRetries: 2, timeoutInMs: 10_000 } },
        retryBackoffMs: 100,
        maxRetryBackoffMs: 1000,
        ...options.agentOptions,
      });
      return agent;
    };
    if (options.agent !== false) await startTheAgent();

    return {
      cloud,
      tenantId,
      agentConnectionStrings: strings,
      directory,
      agent: () => agent,
      agentLogs: () => logs,
      startAgent: startTheAgent,
      agentConfigFile: (overrides = {}) => ({ ...configFile, ...overrides }),
      async stopAgent() {
        await agent?.stop();
        agent = undefined;
      },
      token,
      call,
      async untilOnline(api, timeoutMs = 30_000) {
        const bearer = await token();
        await eventually(
          async () => {
            const status = await call('GET', `/tenants/${tenantId}/writeback/status`, {
              token: bearer,
              ...(api ? { api } : {}),
            });
            return status.body.state === 'online' ? true : undefined;
          },
          timeoutMs,
          `tenant ${tenantId} online`,
        );
      },
      async startSecondHost(env = {}) {
        const host = await startAppHost({ ...cloud.env, ...env });
        extraHosts.push(host);
        return host;
      },
      async stop() {
        await agent?.stop().catch(() => undefined);
        for (const host of extraHosts) await host.stop().catch(() => undefined);
        await cloud.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await agent?.stop().catch(() => undefined);
    await cloud.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Polls `probe` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
