/**
 * The one place that builds Azure SDK clients from settings.
 *
 * Connections follow the Azure Functions host's conventions, so the same setting names work for
 * triggers and for our own clients:
 *   - `X` holds a connection string, or
 *   - `X__fullyQualifiedNamespace` (Service Bus) / `X__tableServiceUri` (Tables) names the endpoint
 *     and a managed identity authenticates (`X__clientId` selects a user-assigned identity), or
 *   - `X__tenantId`, `X__clientId` and `X__clientSecret` (the host's convention for a service principal)
 *     authenticate with a client secret; `X__authorityHost` points them at another authority, such as
 *     the development identity provider (`npm start`), which has no instance discovery.
 */
import {
  ServiceBusAdministrationClient,
  ServiceBusClient,
  parseServiceBusConnectionString,
  type ServiceBusAdministrationClientOptions,
  type ServiceBusClientOptions,
} from '@azure/service-bus';
import { KeyClient, type KeyClientOptions } from '@azure/keyvault-keys';
import { TableClient, TableServiceClient, type TableServiceClientOptions } from '@azure/data-tables';
import {
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  type TokenCredential,
} from '@azure/identity';
import type { Environment } from '../config/index.js';
import { ConfigurationError } from '../errors/index.js';
import type { CommonClientOptions } from '@azure/core-client';
import { deadlinePolicy } from './deadline-policy.js';

/**
 * What every HTTP client of the app gets: requests end by their call's deadline, and the policy, not
 * the SDK, decides what is sent again (deadline-policy.ts).
 */
const DEADLINE_OPTIONS = {
  retryOptions: { maxRetries: 0 },
  additionalPolicies: [{ policy: deadlinePolicy(), position: 'perCall' as const }],
};

/** `options` with the deadline policy added to its own policies (which it keeps). */
function withDeadlines<T extends CommonClientOptions>(options: T): T {
  return {
    ...DEADLINE_OPTIONS,
    ...options,
    additionalPolicies: [...DEADLINE_OPTIONS.additionalPolicies, ...(options.additionalPolicies ?? [])],
  };
}

/** The identity-based connection of the Key Vault client (`KEYVAULT__clientId` selects a user-assigned identity). */
export const KEY_VAULT_CONNECTION = 'KEYVAULT';

/** The credential for an identity-based connection `X__…`. */
export function credentialFromSettings(
  connectionName: string,
  env: Environment = process.env,
): TokenCredential {
  const clientId = env[`${connectionName}__clientId`];
  const clientSecret = env[`${connectionName}__clientSecret`];
  if (clientSecret) {
    const tenantId = env[`${connectionName}__tenantId`];
    if (!tenantId)
      throw new ConfigurationError(`${connectionName}__tenantId`, 'set it with the client secret');
    if (!clientId)
      throw new ConfigurationError(`${connectionName}__clientId`, 'set it with the client secret');
    const authorityHost = env[`${connectionName}__authorityHost`];
    return new ClientSecretCredential(
      tenantId,
      clientId,
      clientSecret,
      authorityHost ? { authorityHost, disableInstanceDiscovery: true } : {},
    );
  }
  const credentialKind = env[`${connectionName}__credential`];
  if (credentialKind === 'managedidentity' || clientId) {
    return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
  }
  return new DefaultAzureCredential();
}

/** A Service Bus client for connection `connectionName` (default: the host's `AzureWebJobsServiceBus`). */
export function serviceBusClientFromSettings(
  connectionName = 'AzureWebJobsServiceBus',
  env: Environment = process.env,
  options: ServiceBusClientOptions = {},
): ServiceBusClient {
  const connectionString = env[connectionName];
  if (connectionString) return new ServiceBusClient(connectionString, options);
  const namespace = env[`${connectionName}__fullyQualifiedNamespace`];
  if (namespace) return new ServiceBusClient(namespace, credentialFromSettings(connectionName, env), options);
  throw new ConfigurationError(
    connectionName,
    `set ${connectionName} to a connection string or ${connectionName}__fullyQualifiedNamespace to a namespace`,
  );
}

/**
 * The management client for connection `connectionName`: creates queues and their shared access rules.
 * A connection string needs Manage rights; an identity needs the Azure Service Bus Data Owner role.
 */
export function serviceBusAdministrationClientFromSettings(
  connectionName = 'AzureWebJobsServiceBus',
  env: Environment = process.env,
  options: ServiceBusAdministrationClientOptions = {},
): ServiceBusAdministrationClient {
  const connectionString = env[connectionName];
  if (connectionString) return new ServiceBusAdministrationClient(connectionString, withDeadlines(options));
  const namespace = env[`${connectionName}__fullyQualifiedNamespace`];
  if (namespace) {
    return new ServiceBusAdministrationClient(
      namespace,
      credentialFromSettings(connectionName, env),
      withDeadlines(options),
    );
  }
  throw new ConfigurationError(
    connectionName,
    `set ${connectionName} to a connection string or ${connectionName}__fullyQualifiedNamespace to a namespace`,
  );
}

/** Where clients of connection `connectionName` reach the namespace, for connection strings handed to others. */
export interface ServiceBusEndpoint {
  /** `sb://host[:port]/`. */
  endpoint: string;
  /** The local emulator: connection strings must carry `UseDevelopmentEmulator=true` (plain AMQP). */
  developmentEmulator: boolean;
}

export function serviceBusEndpointFromSettings(
  connectionName = 'AzureWebJobsServiceBus',
  env: Environment = process.env,
): ServiceBusEndpoint {
  const connectionString = env[connectionName];
  if (connectionString) {
    let endpoint: string;
    try {
      endpoint = parseServiceBusConnectionString(connectionString).endpoint;
    } catch {
      throw new ConfigurationError(
        connectionName,
        'expected a Service Bus connection string (Endpoint=sb://…)',
      );
    }
    return {
      endpoint: endpoint.endsWith('/') ? endpoint : `${endpoint}/`,
      developmentEmulator: /(?:^|;)\s*UseDevelopmentEmulator\s*=\s*true\s*(?:;|$)/i.test(connectionString),
    };
  }
  const namespace = env[`${connectionName}__fullyQualifiedNamespace`];
  if (namespace) return { endpoint: `sb://${namespace.replace(/\/+$/, '')}/`, developmentEmulator: false };
  throw new ConfigurationError(
    connectionName,
    `set ${connectionName} to a connection string or ${connectionName}__fullyQualifiedNamespace to a namespace`,
  );
}

/**
 * The Key Vault keys client: `KEYVAULT_URI`, signed in with the `KEYVAULT` identity (client secret
 * locally, a managed identity in Azure). The challenge of a vault outside `*.vault.azure.net` (the
 * local emulator) names `https://vault.azure.net`, so the SDK's resource check is only relaxed there.
 */
export function keyClientFromSettings(
  env: Environment = process.env,
  options: KeyClientOptions = {},
): KeyClient {
  const vaultUri = env.KEYVAULT_URI?.trim() ?? '';
  let host: string;
  try {
    host = new URL(vaultUri).hostname;
  } catch {
    throw new ConfigurationError(
      'KEYVAULT_URI',
      'expected the vault URL, such as https://my-vault.vault.azure.net',
    );
  }
  const inAzure = host.toLowerCase().endsWith('.vault.azure.net');
  return new KeyClient(
    vaultUri,
    credentialFromSettings(KEY_VAULT_CONNECTION, env),
    withDeadlines({ ...(inAzure ? {} : { disableChallengeResourceVerification: true }), ...options }),
  );
}

/** Table endpoints over plain http are only acceptable on loopback (Azurite). */
function tableOptions(endpoint: string): TableServiceClientOptions {
  const url = new URL(endpoint);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  return withDeadlines<TableServiceClientOptions>({
    allowInsecureConnection: url.protocol === 'http:' && loopback,
  });
}

function tableEndpointOf(connectionString: string): string {
  if (/UseDevelopmentStorage=true/i.test(connectionString)) return 'http://127.0.0.1:10002';
  const explicit = /(?:^|;)TableEndpoint=([^;]+)/i.exec(connectionString)?.[1];
  if (explicit) return explicit;
  const protocol = /(?:^|;)DefaultEndpointsProtocol=([^;]+)/i.exec(connectionString)?.[1] ?? 'https';
  return `${protocol}://table.core.windows.net`;
}

/** How connection `connectionName` reaches Table storage: a connection string, or an endpoint and an identity. */
type TableConnection =
  | { kind: 'connectionString'; connectionString: string; options: TableServiceClientOptions }
  | { kind: 'identity'; serviceUri: string; credential: TokenCredential; options: TableServiceClientOptions };

function tableConnectionOf(connectionName: string, env: Environment): TableConnection {
  const connectionString = env[connectionName];
  if (connectionString) {
    return {
      kind: 'connectionString',
      connectionString,
      options: tableOptions(tableEndpointOf(connectionString)),
    };
  }
  const serviceUri = env[`${connectionName}__tableServiceUri`];
  if (serviceUri) {
    const credential = credentialFromSettings(connectionName, env);
    return { kind: 'identity', serviceUri, credential, options: tableOptions(serviceUri) };
  }
  throw new ConfigurationError(
    connectionName,
    `set ${connectionName} to a connection string or ${connectionName}__tableServiceUri to a table endpoint`,
  );
}

/**
 * The table service for connection `connectionName`. Tables default to the host's own storage
 * (`AzureWebJobsStorage`), which is what a single storage account deployment uses.
 */
export function tableServiceClientFromSettings(
  connectionName = 'AzureWebJobsStorage',
  env: Environment = process.env,
): TableServiceClient {
  const c = tableConnectionOf(connectionName, env);
  return c.kind === 'connectionString'
    ? TableServiceClient.fromConnectionString(c.connectionString, c.options)
    : new TableServiceClient(c.serviceUri, c.credential, c.options);
}

/** A client for one table of connection `connectionName`. */
export function tableClientFromSettings(
  tableName: string,
  connectionName = 'AzureWebJobsStorage',
  env: Environment = process.env,
): TableClient {
  const c = tableConnectionOf(connectionName, env);
  return c.kind === 'connectionString'
    ? TableClient.fromConnectionString(c.connectionString, tableName, c.options)
    : new TableClient(c.serviceUri, tableName, c.credential, c.options);
}
