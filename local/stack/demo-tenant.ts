/**
 * The demo tenant of `npm start`: enabled through the real admin route (as an operator would), then
 * the reference agent configured with what enabling returned. The Service Bus emulator keeps nothing
 * across restarts, so each start disables and re-enables the tenant: new SAS keys and key versions.
 *
 * The agent connects as production agents do, with AMQP over TLS: its connection strings name the
 * emulator's AMQPS endpoint and not `UseDevelopmentEmulator=true` (the function app keeps plain AMQP).
 */
import path from 'node:path';
import { writeFile, mkdir } from 'node:fs/promises';
import { DEMO_TENANT, DEMO_USER_PASSWORD, demoAgentConfigFile } from '../../agent/demo-config.js';
import { openOfflineMinter } from '../identity/index.js';
import { DEV_IDENTITIES, SERVICE_TENANT } from './identities.js';

export interface DemoTenantInputs {
  api: string;
  identityUrl: string;
  identityDataDir: string;
  vaultUri: string;
  /** The Service Bus emulator's AMQPS endpoint, `sb://host:port/`: where the agent connects. */
  serviceBusAmqpsEndpoint: string;
  caPath: string;
  dataDir: string;
  /** More users for the directory, `user-1@{tenant}.test` …: a benchmark's population. Default 0. */
  generatedUsers?: number;
}

/** The same connection string on the AMQPS endpoint: TLS, as in Azure, instead of the plain port. */
export function overAmqps(connectionString: string, amqpsEndpoint: string): string {
  return connectionString
    .split(';')
    .filter((part) => part !== '' && !/^\s*UseDevelopmentEmulator\s*=/i.test(part))
    .map((part) => (/^\s*Endpoint\s*=/i.test(part) ? `Endpoint=${amqpsEndpoint}` : part))
    .join(';');
}

async function call(method: string, url: string, token: string): Promise<Response> {
  return fetch(url, { method, headers: { authorization: `Bearer ${token}` } });
}

/** Enables the demo tenant and writes its agent's configuration; returns the file's path. */
export async function provisionDemoTenant(inputs: DemoTenantInputs): Promise<string> {
  const minter = await openOfflineMinter({
    dataDir: inputs.identityDataDir,
    issuerBaseUrl: inputs.identityUrl,
  });
  const token = await minter.mintToken({
    tenant: DEMO_TENANT,
    upn: `admin@${DEMO_TENANT}.test`,
    roles: ['Writeback.Admin'],
    lifetimeSeconds: 300,
  });
  const route = `${inputs.api}/tenants/${DEMO_TENANT}/writeback`;
  const disabled = await call('DELETE', route, token);
  if (!disabled.ok && disabled.status !== 409) {
    throw new Error(`disabling the demo tenant answered ${disabled.status}: ${await disabled.text()}`);
  }
  const enabled = await call('PUT', route, token);
  const body = (await enabled.json()) as { agentConnectionStrings?: { listen: string; send: string } };
  if (enabled.status !== 201 || !body.agentConnectionStrings) {
    throw new Error(`enabling the demo tenant answered ${enabled.status}: ${JSON.stringify(body)}`);
  }
  const agent = DEV_IDENTITIES.demoAgent;
  const agentDir = path.join(inputs.dataDir, 'agent');
  await mkdir(agentDir, { recursive: true });
  const file = path.join(agentDir, `${DEMO_TENANT}.json`);
  const config = demoAgentConfigFile({
    requestsConnectionString: overAmqps(body.agentConnectionStrings.listen, inputs.serviceBusAmqpsEndpoint),
    repliesConnectionString: overAmqps(body.agentConnectionStrings.send, inputs.serviceBusAmqpsEndpoint),
    vaultUrl: inputs.vaultUri,
    credential: {
      tenantId: SERVICE_TENANT,
      clientId: agent.clientId,
      clientSecret: agent.clientSecret,
      authorityHost: inputs.identityUrl,
    },
    caCertificateFile: inputs.caPath,
    stateDirectory: path.join(agentDir, 'state'),
  });
  const directory = config.directory as { users: object[] };
  for (let i = 1; i <= (inputs.generatedUsers ?? 0); i++) {
    directory.users.push({
      userPrincipalName: `user-${i}@${DEMO_TENANT}.test`,
      password: DEMO_USER_PASSWORD,
    });
  }
  // The file holds the agent's SAS keys: readable by this user only.
  await writeFile(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  return file;
}
