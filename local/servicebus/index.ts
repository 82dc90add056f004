/**
 * The local Service Bus emulator: an AMQP 1.0 broker for the unmodified `@azure/service-bus` SDK and
 * the management API its `ServiceBusAdministrationClient` speaks. Messages are kept in memory.
 *
 * One connection string reaches both: the AMQP port also answers TLS, so
 * `new ServiceBusAdministrationClient(connectionString)` works with the same string as
 * `new ServiceBusClient(connectionString)` (the process must trust the local CA: NODE_EXTRA_CA_CERTS).
 * The management API also listens on its own port (default 5443).
 */
import { ensureLocalCa, issueServerCertificate } from '../certs/index.js';
import type { AuthorizationRule } from './auth/sas.js';
import { AmqpServer } from './amqp/server.js';
import { loadEmulatorConfig, type EmulatorConfig } from './config/config-file.js';
import { Namespace } from './entities/namespace.js';
import { ManagementServer } from './management/server.js';

export { ensureLocalCa, issueServerCertificate } from '../certs/index.js';
export { ConfigFileError, parseEmulatorConfig } from './config/config-file.js';

/** The key of RootManageSharedAccessKey unless one is given: the one Microsoft's emulator uses. */
export const WELL_KNOWN_ROOT_KEY = 'SAS_KEY_VALUE';
export const ROOT_RULE_NAME = 'RootManageSharedAccessKey';

export interface ServiceBusEmulatorOptions {
  /** AMQP port; 0 picks a free one. Default 5672. */
  amqpPort?: number;
  /** Management (HTTPS) port; 0 picks a free one. Default 5443. */
  managementPort?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Folder of the local CA (`ca.pem`), created if missing. */
  certsDir: string;
  /** A Config.json in the shape of Microsoft's emulator. */
  configFile?: string;
  /** Key of RootManageSharedAccessKey. Default WELL_KNOWN_ROOT_KEY. */
  rootKey?: string;
}

export interface ServiceBusEmulator {
  /** RootManageSharedAccessKey on the AMQP endpoint, with UseDevelopmentEmulator=true. */
  connectionString: string;
  /** The same rule on the management port, for tools that want the dedicated HTTPS endpoint. */
  managementConnectionString: string;
  /** `127.0.0.1:<managementPort>`: the namespace to give ServiceBusAdministrationClient with a credential. */
  managementNamespace: string;
  amqpPort: number;
  managementPort: number;
  host: string;
  /** The CA certificate file the management endpoint's certificate chains to. */
  caPath: string;
  namespaceName: string;
  /** What the configuration file asked for that the emulator does not do. */
  warnings: string[];
  /**
   * Fault injection for tests, a broker outage: drops every connection to the AMQP port and refuses new
   * ones until `resume()`, which listens again on the same port. Queues, messages and locks are kept, as
   * Service Bus keeps them across its own outages. The management port is not affected.
   */
  interruptAmqp(): Promise<{ resume(): Promise<void> }>;
  close(): Promise<void>;
}

function connectionString(host: string, port: number, key: string): string {
  return `Endpoint=sb://${host}:${port};SharedAccessKeyName=${ROOT_RULE_NAME};SharedAccessKey=${key};UseDevelopmentEmulator=true`;
}

export async function startServiceBusEmulator(
  options: ServiceBusEmulatorOptions,
): Promise<ServiceBusEmulator> {
  const host = options.host ?? '127.0.0.1';
  const rootKey = options.rootKey ?? WELL_KNOWN_ROOT_KEY;
  const config: EmulatorConfig = options.configFile
    ? await loadEmulatorConfig(options.configFile)
    : { namespaceName: 'sbemulatorns', queues: [], warnings: [] };
  const rootRule: AuthorizationRule = {
    keyName: ROOT_RULE_NAME,
    primaryKey: rootKey,
    rights: ['Manage', 'Send', 'Listen'],
  };
  const namespace = new Namespace(config.namespaceName, [rootRule]);
  // Forwarding targets must exist, so queues are created first and their forwarding set afterwards.
  for (const queue of config.queues) {
    namespace.createQueue(queue.name, {
      ...queue.properties,
      forwardTo: undefined,
      forwardDeadLetteredMessagesTo: undefined,
    });
  }
  for (const queue of config.queues) {
    if (queue.properties.forwardTo || queue.properties.forwardDeadLetteredMessagesTo) {
      namespace.updateQueue(queue.name, queue.properties);
    }
  }

  const ca = await ensureLocalCa(options.certsDir);
  const hosts = [...new Set([host, '127.0.0.1', 'localhost'])];
  const certificate = issueServerCertificate(ca, { hosts });
  const management = new ManagementServer({
    namespace,
    host,
    port: options.managementPort ?? 5443,
    certPem: certificate.certPem,
    keyPem: certificate.keyPem,
  });
  const amqp = new AmqpServer({
    host,
    port: options.amqpPort ?? 5672,
    namespace,
    onTls: (socket) => management.acceptTls(socket),
  });
  let managementPort: number;
  let amqpPort: number;
  try {
    managementPort = await management.listen();
    amqpPort = await amqp.listen();
  } catch (error) {
    await Promise.allSettled([management.close(), amqp.close()]);
    namespace.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    connectionString: connectionString(host, amqpPort, rootKey),
    managementConnectionString: connectionString(host, managementPort, rootKey),
    managementNamespace: `${host}:${managementPort}`,
    amqpPort,
    managementPort,
    host,
    caPath: ca.caPath,
    namespaceName: config.namespaceName,
    warnings: config.warnings,
    interruptAmqp: () => amqp.interrupt(),
    close() {
      closing ??= (async () => {
        await Promise.allSettled([amqp.close(), management.close()]);
        namespace.close();
      })();
      return closing;
    },
  };
}
