/**
 * The demo agent's configuration file for `npm start` (docs/local-development.md): tenant `contoso`, the
 * in-memory directory with the demo users and the demo policy, heartbeats every 10 seconds. The
 * caller (the local stack) provides what enabling the tenant produced and where things run; this
 * module only shapes the file, so that the demo and a real installation go through the same
 * configuration loader and CLI.
 */
import { DEMO_POLICY } from './directory/index.js';

export const DEMO_TENANT = 'contoso';

/** The demo users' initial password (public, like every local development secret). */
export const DEMO_USER_PASSWORD = 'Contoso-Demo-Passw0rd!';

export const DEMO_USERS = [
  { userPrincipalName: 'alice@contoso.test', displayName: 'Alice' },
  { userPrincipalName: 'bob@contoso.test', displayName: 'Bob' },
  { userPrincipalName: 'admin@contoso.test', displayName: 'Writeback admin' },
  { userPrincipalName: 'da@contoso.test', displayName: 'Domain admin (protected)', adminCount: 1 },
  { userPrincipalName: 'gone@contoso.test', displayName: 'Departed user (disabled)', disabled: true },
] as const;

export interface DemoAgentInputs {
  /** Listen-only connection string of `writeback-contoso`. */
  requestsConnectionString: string;
  /** Send-only connection string of `writeback-contoso-replies`. */
  repliesConnectionString: string;
  vaultUrl: string;
  /** The demo agent's client credentials at the identity provider. */
  credential: { tenantId: string; clientId: string; clientSecret: string; authorityHost: string };
  /** The local CA, trusted for the vault and the identity provider. */
  caCertificateFile: string;
  stateDirectory: string;
  healthPort?: number;
  heartbeatInterval?: string;
}

/** The JSON content of the demo agent's configuration file. */
export function demoAgentConfigFile(inputs: DemoAgentInputs): Record<string, unknown> {
  return {
    tenantId: DEMO_TENANT,
    agentId: 'demo-agent-contoso',
    serviceBus: {
      requestsConnectionString: inputs.requestsConnectionString,
      repliesConnectionString: inputs.repliesConnectionString,
    },
    keyVault: {
      url: inputs.vaultUrl,
      credential: inputs.credential,
      caCertificateFile: inputs.caCertificateFile,
    },
    directory: {
      kind: 'memory',
      users: DEMO_USERS.map((user) => ({ ...user, password: DEMO_USER_PASSWORD })),
      policy: { ...DEMO_POLICY },
    },
    heartbeatInterval: inputs.heartbeatInterval ?? 'PT10S',
    concurrency: 8,
    stateDirectory: inputs.stateDirectory,
    healthPort: inputs.healthPort ?? 0,
    shutdownTimeout: 'PT10S',
  };
}
