/**
 * The local Service Bus emulator: an AMQP 1.0 broker for the unmodified `@azure/service-bus` SDK and
 * the management API its `ServiceBusAdministrationClient` speaks. Messages are kept in memory.
 *
 * Ports (README "Ports"): plain AMQP (default 5672, for `UseDevelopmentEmulator=true`), AMQPS (default
 * 5671, as Azure's: TLS, for connection strings without that flag and for host + credential clients) and
 * the management API alone (default 5443). Both AMQP ports also serve the management API over TLS, so
 * `new ServiceBusAdministrationClient(connectionString)` works with the same string as
 * `new ServiceBusClient(connectionString)` (the process must trust the local CA: NODE_EXTRA_CA_CERTS).
 */
import { ensureLocalCa, issueServerCertificate } from '../certs/index.js';
import type { RoleAssignment, RoleAssignmentInput } from '../entra/role-assignments.js';
import { createTokenValidator } from '../entra/token-validator.js';
import { createTrustedFetch } from '../entra/trusted-fetch.js';
import { EntraAccess, SERVICE_BUS_AUDIENCES } from './auth/entra-access.js';
import { NamespaceRoleAssignments } from './rbac/namespace-role-assignments.js';
import type { AuthorizationRule } from './auth/sas.js';
import { AmqpServer } from './amqp/server.js';
import { AmqpsServer } from './amqp/amqps-server.js';
import { loadEmulatorConfig, type EmulatorConfig } from './config/config-file.js';
import { Namespace } from './entities/namespace.js';
import { ManagementServer } from './management/server.js';

export { ensureLocalCa, issueServerCertificate } from '../certs/index.js';
export { ConfigFileError, parseEmulatorConfig } from './config/config-file.js';
export { SERVICE_BUS_RESOURCE } from './auth/entra-access.js';
export { ROLES as SERVICE_BUS_ROLES } from './rbac/roles.js';
export type { RoleAssignment, RoleAssignmentInput } from '../entra/role-assignments.js';

/** The key of RootManageSharedAccessKey unless one is given: the one Microsoft's emulator uses. */
export const WELL_KNOWN_ROOT_KEY = 'SAS_KEY_VALUE';
export const ROOT_RULE_NAME = 'RootManageSharedAccessKey';

export interface ServiceBusEmulatorOptions {
  /** Plain AMQP port; 0 picks a free one. Default 5672. */
  amqpPort?: number;
  /**
   * AMQPS (AMQP over TLS) port; 0 picks a free one. Default 5671, as Azure's, except when `amqpPort` is 0:
   * a caller that asks for free ports (tests, benchmarks) gets a free one here too.
   */
  amqpsPort?: number;
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
  /**
   * The issuer whose Entra ID tokens the namespace accepts (its tenant), e.g.
   * `https://127.0.0.1:7072/writeback/v2.0`. Without one, only SAS tokens are accepted.
   */
  issuer?: string;
  /** A CA trusted when fetching the issuer's discovery document and keys. Default: the local CA. */
  issuerCaPem?: string;
  /** Azure Service Bus Data Owner / Sender / Receiver at `/` (the namespace) or `/queues/{name}`. */
  roleAssignments?: readonly RoleAssignmentInput[];
}

export interface ServiceBusEmulator {
  /** RootManageSharedAccessKey on the AMQP endpoint, with UseDevelopmentEmulator=true. */
  connectionString: string;
  /** RootManageSharedAccessKey on the AMQPS endpoint, without UseDevelopmentEmulator: AMQP over TLS. */
  amqpsConnectionString: string;
  /**
   * `127.0.0.1:<amqpsPort>`: the fully qualified namespace to give `ServiceBusClient` or
   * `ServiceBusAdministrationClient` with a credential (AzureNamedKeyCredential, a TokenCredential).
   */
  amqpsNamespace: string;
  amqpsPort: number;
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
  /** The issuer of the Entra ID tokens accepted, if any. */
  issuer: string | undefined;
  /** Entra ID role assignments, changed at run time (tests). Throws on an unknown role or bad scope. */
  assignRole(assignment: RoleAssignmentInput): RoleAssignment;
  removeRoleAssignment(id: string): boolean;
  /**
   * Fault injection for tests, a broker outage: drops every connection to the AMQP and AMQPS ports and
   * refuses new ones until `resume()`, which listens again on the same ports. Queues, messages and locks are kept, as
   * Service Bus keeps them across its own outages. The management port is not affected.
   */
  interruptAmqp(): Promise<{ resume(): Promise<void> }>;
  close(): Promise<void>;
}

function connectionString(host: string, port: number, key: string, developmentEmulator = true): string {
  const root = `Endpoint=sb://${host}:${port};SharedAccessKeyName=${ROOT_RULE_NAME};SharedAccessKey=${key}`;
  return developmentEmulator ? `${root};UseDevelopmentEmulator=true` : root;
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
  const assignments = new NamespaceRoleAssignments(options.roleAssignments ?? []);
  const entra = options.issuer
    ? new EntraAccess(
        createTokenValidator({
          issuer: options.issuer,
          audiences: SERVICE_BUS_AUDIENCES,
          fetch: createTrustedFetch(options.issuerCaPem ?? ca.caPem, 5_000),
        }),
        assignments,
      )
    : undefined;
  const management = new ManagementServer({
    namespace,
    host,
    port: options.managementPort ?? 5443,
    certPem: certificate.certPem,
    keyPem: certificate.keyPem,
    ...(entra ? { entra } : {}),
  });
  const amqp = new AmqpServer({
    host,
    port: options.amqpPort ?? 5672,
    namespace,
    ...(entra ? { entra } : {}),
    onTls: (socket) => management.acceptTls(socket),
  });
  const amqps = new AmqpsServer({
    host,
    port: options.amqpsPort ?? (options.amqpPort === 0 ? 0 : 5671),
    certPem: certificate.certPem,
    keyPem: certificate.keyPem,
    serveAmqp: (socket) => amqp.serve(socket),
    serveHttp: (socket) => management.acceptDecrypted(socket),
  });
  let managementPort: number;
  let amqpPort: number;
  let amqpsPort: number;
  try {
    managementPort = await management.listen();
    amqpPort = await amqp.listen();
    amqpsPort = await amqps.listen();
  } catch (error) {
    await Promise.allSettled([management.close(), amqp.close(), amqps.close()]);
    namespace.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    connectionString: connectionString(host, amqpPort, rootKey),
    amqpsConnectionString: connectionString(host, amqpsPort, rootKey, false),
    amqpsNamespace: `${host}:${amqpsPort}`,
    amqpsPort,
    managementConnectionString: connectionString(host, managementPort, rootKey),
    managementNamespace: `${host}:${managementPort}`,
    amqpPort,
    managementPort,
    host,
    caPath: ca.caPath,
    namespaceName: config.namespaceName,
    warnings: config.warnings,
    issuer: options.issuer,
    assignRole: (assignment) => assignments.assign(assignment),
    removeRoleAssignment: (id) => assignments.remove(id),
    async interruptAmqp() {
      const [plain, secure] = await Promise.all([amqp.interrupt(), amqps.interrupt()]);
      return { resume: async () => void (await Promise.all([plain.resume(), secure.resume()])) };
    },
    close() {
      closing ??= (async () => {
        await Promise.allSettled([amqp.close(), amqps.close(), management.close()]);
        namespace.close();
      })();
      return closing;
    },
  };
}
