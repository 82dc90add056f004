/**
 * The one place that builds Azure SDK clients from settings.
 *
 * Connections follow the Azure Functions host's conventions, so the same setting names work for
 * triggers and for our own clients:
 *   - `X` holds a connection string, or
 *   - `X__fullyQualifiedNamespace` (Service Bus) / `X__tableServiceUri` (Tables) names the endpoint
 *     and a managed identity authenticates (`X__clientId` selects a user-assigned identity).
 */
import { ServiceBusClient, type ServiceBusClientOptions } from '@azure/service-bus';
import { TableClient, TableServiceClient, type TableServiceClientOptions } from '@azure/data-tables';
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { ConfigurationError } from '../errors/index.js';

export type Settings = Readonly<Record<string, string | undefined>>;

/** The credential for an identity-based connection `X__…`. */
export function credentialFromSettings(connectionName: string, env: Settings = process.env): TokenCredential {
  const clientId = env[`${connectionName}__clientId`];
  const credentialKind = env[`${connectionName}__credential`];
  if (credentialKind === 'managedidentity' || clientId) {
    return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
  }
  return new DefaultAzureCredential();
}

/** A Service Bus client for connection `connectionName` (default: the host's `AzureWebJobsServiceBus`). */
export function serviceBusClientFromSettings(
  connectionName = 'AzureWebJobsServiceBus',
  env: Settings = process.env,
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

/** Table endpoints over plain http are only acceptable on loopback (Azurite). */
function tableOptions(endpoint: string): TableServiceClientOptions {
  const url = new URL(endpoint);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  return { allowInsecureConnection: url.protocol === 'http:' && loopback };
}

function tableEndpointOf(connectionString: string): string {
  if (/UseDevelopmentStorage=true/i.test(connectionString)) return 'http://127.0.0.1:10002';
  const explicit = /(?:^|;)TableEndpoint=([^;]+)/i.exec(connectionString)?.[1];
  if (explicit) return explicit;
  const protocol = /(?:^|;)DefaultEndpointsProtocol=([^;]+)/i.exec(connectionString)?.[1] ?? 'https';
  return `${protocol}://table.core.windows.net`;
}

/**
 * The table service for connection `connectionName`. Tables default to the host's own storage
 * (`AzureWebJobsStorage`), which is what a single storage account deployment uses.
 */
export function tableServiceClientFromSettings(
  connectionName = 'AzureWebJobsStorage',
  env: Settings = process.env,
): TableServiceClient {
  const connectionString = env[connectionName];
  if (connectionString) {
    return TableServiceClient.fromConnectionString(
      connectionString,
      tableOptions(tableEndpointOf(connectionString)),
    );
  }
  const serviceUri = env[`${connectionName}__tableServiceUri`];
  if (serviceUri) {
    return new TableServiceClient(
      serviceUri,
      credentialFromSettings(connectionName, env),
      tableOptions(serviceUri),
    );
  }
  throw new ConfigurationError(
    connectionName,
    `set ${connectionName} to a connection string or ${connectionName}__tableServiceUri to a table endpoint`,
  );
}

/** A client for one table of connection `connectionName`. */
export function tableClientFromSettings(
  tableName: string,
  connectionName = 'AzureWebJobsStorage',
  env: Settings = process.env,
): TableClient {
  const connectionString = env[connectionName];
  if (connectionString) {
    return TableClient.fromConnectionString(
      connectionString,
      tableName,
      tableOptions(tableEndpointOf(connectionString)),
    );
  }
  const serviceUri = env[`${connectionName}__tableServiceUri`];
  if (serviceUri) {
    return new TableClient(
      serviceUri,
      tableName,
      credentialFromSettings(connectionName, env),
      tableOptions(serviceUri),
    );
  }
  throw new ConfigurationError(
    connectionName,
    `set ${connectionName} to a connection string or ${connectionName}__tableServiceUri to a table endpoint`,
  );
}
