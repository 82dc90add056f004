/**
 * The capacity model of one deployment (one vault, one Service Bus namespace, one storage account, one
 * function app), from the calls one reset and one heartbeat cost (counted on the local stack) and
 * Azure's published limits. Pure arithmetic: `npm run bench` feeds it measured costs, and
 * docs/capacity.md gives the limits' sources and the assumptions.
 */

/** Azure's published limits (docs/capacity.md names the page of each). */
export const AZURE_LIMITS = {
  keyVault: {
    /** Operations per 10 s per vault: RSA 2048-bit and EC P-256 keys, software and HSM-protected. */
    softwareOperationsPer10s: 4000,
    hsmOperationsPer10s: 2000,
    /** A subscription's limit is this many vaults' worth, for every transaction type. */
    subscriptionMultiple: 5,
  },
  tableStorage: {
    /** Target throughput of one partition (1 KiB entities). */
    entitiesPerSecondPerPartition: 2000,
    /** Target request rate of one storage account. */
    transactionsPerSecondPerAccount: 20000,
  },
  serviceBus: {
    /** Standard: credit-based throttling per namespace. */
    standardCreditsPerSecond: 1000,
    dataOperationCredits: 1,
    managementOperationCredits: 10,
    standardEntitiesPerNamespace: 10000,
    premiumEntitiesPerMessagingUnit: 1000,
    /** Every tier. */
    amqpConnectionsPerNamespace: 5000,
  },
  flexConsumption: {
    maxInstances: 1000,
  },
} as const;

export type Limits = typeof AZURE_LIMITS;

/** What one reset costs, as counted on the local stack (cloud and agent sides together). */
export interface ResetCosts {
  keyVaultOperations: number;
  /** Sends, receives, settlements and `$management` requests: one credit each on Standard. */
  serviceBusDataOperations: number;
  /** Entity create/read/update/delete over the management API: ten credits each on Standard. */
  serviceBusManagementOperations: number;
  /** Requests to the storage account. */
  tableTransactions: number;
  /** Entities read or written in the tenant's partition of `operations`. */
  tableEntities: number;
  /** The function app's CPU (the HTTP function and the replies function). */
  hostCpuMs: number;
  /** How long a reset holds one of an instance's HTTP slots. */
  latencyMs: number;
}

/** What one agent heartbeat costs. */
export interface HeartbeatCosts {
  keyVaultOperations: number;
  serviceBusDataOperations: number;
  tableTransactions: number;
}

/** The deployment and the assumptions the answers depend on. */
export interface DeploymentShape {
  keyProtection: 'hsm' | 'software';
  serviceBusTier: 'Standard' | 'Premium';
  premiumMessagingUnits: number;
  /** The function app's instance limit (the templates' default is 100; Flex Consumption allows 1,000). */
  maxInstances: number;
  httpConcurrencyPerInstance: number;
  vCpusPerInstance: number;
  /** HEARTBEAT_INTERVAL, in seconds. */
  heartbeatIntervalSeconds: number;
  queuesPerTenant: number;
  /** Queues every tenant shares (writeback-replies). */
  sharedQueues: number;
  /** AMQP connections one agent holds open. */
  connectionsPerAgent: number;
  /** AMQP connections one function app instance holds open. */
  connectionsPerInstance: number;
  /** Tenants whose heartbeats load the deployment while its reset rate is computed. */
  tenants: number;
  /** The busiest reset rate of one tenant that a count of tenants allows for (an assumption). */
  peakResetsPerTenantPerSecond: number;
  /** Tenants whose keys one vault can roll per period (docs/key-rollover.md, "Throttling and capacity"). */
  tenantsPerVaultByRollover: number;
}

export interface LimitFigure {
  limit: string;
  /** The limit, in its own unit. */
  capacity: string;
  /** Resets per second it allows, with the heartbeats of `tenants` taken off first. */
  resetsPerSecond: number;
  /** What to add when it is reached. */
  shard: string;
}

export interface TenantCount {
  count: number;
  limitedBy: string;
  byLimit: Record<string, number>;
}

export interface CapacityAnswers {
  /** Each deployment-wide limit's reset rate, lowest first. */
  limits: LimitFigure[];
  sustainedResetsPerSecond: number;
  firstLimit: LimitFigure;
  /** One tenant's reset rate: all its operations rows share one partition. */
  resetsPerSecondPerTenant: number;
  tenantsPerNamespace: TenantCount;
  tenantsPerVault: TenantCount;
}

/** Whole tenants: a count that is whole but for floating point's last digit stays whole. */
const whole = (count: number) => Math.floor(count + 1e-9);

function smallest(byLimit: Record<string, number>): TenantCount {
  const [limitedBy, count] = Object.entries(byLimit).reduce((a, b) => (b[1] < a[1] ? b : a));
  return { count, limitedBy, byLimit };
}

export function capacityModel(
  reset: ResetCosts,
  heartbeat: HeartbeatCosts,
  shape: DeploymentShape,
  limits: Limits = AZURE_LIMITS,
): CapacityAnswers {
  const heartbeatsPerSecond = shape.tenants / shape.heartbeatIntervalSeconds;
  const perTenantHeartbeats = 1 / shape.heartbeatIntervalSeconds;
  const vaultOpsPer10s =
    shape.keyProtection === 'hsm'
      ? limits.keyVault.hsmOperationsPer10s
      : limits.keyVault.softwareOperationsPer10s;
  const vaultOpsPerSecond = vaultOpsPer10s / 10;
  const sb = limits.serviceBus;
  const creditsPerReset =
    reset.serviceBusDataOperations * sb.dataOperationCredits +
    reset.serviceBusManagementOperations * sb.managementOperationCredits;
  const creditsPerHeartbeat = heartbeat.serviceBusDataOperations * sb.dataOperationCredits;
  const perInstance = Math.min(
    shape.httpConcurrencyPerInstance / (reset.latencyMs / 1000),
    (shape.vCpusPerInstance * 1000) / reset.hostCpuMs,
  );

  const figures: LimitFigure[] = [
    {
      limit: `Key Vault operations per vault (${shape.keyProtection} keys)`,
      capacity: `${vaultOpsPer10s} per 10 s`,
      resetsPerSecond:
        (vaultOpsPerSecond - heartbeatsPerSecond * heartbeat.keyVaultOperations) / reset.keyVaultOperations,
      shard:
        `more vaults, each tenant's keys in one; a subscription allows ${limits.keyVault.subscriptionMultiple} ` +
        `vaults' worth, then more subscriptions` +
        (shape.keyProtection === 'hsm' ? '; or software keys (twice the budget)' : ''),
    },
    {
      limit: 'Table storage requests per account',
      capacity: `${limits.tableStorage.transactionsPerSecondPerAccount} per s`,
      resetsPerSecond:
        (limits.tableStorage.transactionsPerSecondPerAccount -
          heartbeatsPerSecond * heartbeat.tableTransactions) /
        reset.tableTransactions,
      shard: 'more storage accounts, tenants spread over them',
    },
    {
      limit: `Function app (${shape.maxInstances} instances × min(HTTP slots, CPU))`,
      capacity: `${shape.httpConcurrencyPerInstance} requests, ${shape.vCpusPerInstance} vCPU per instance`,
      resetsPerSecond: perInstance * shape.maxInstances,
      shard: `a higher maximumInstanceCount (Flex Consumption allows ${limits.flexConsumption.maxInstances})`,
    },
  ];
  if (shape.serviceBusTier === 'Standard') {
    figures.push({
      limit: 'Service Bus Standard credits per namespace',
      capacity: `${sb.standardCreditsPerSecond} per s`,
      resetsPerSecond:
        (sb.standardCreditsPerSecond - heartbeatsPerSecond * creditsPerHeartbeat) / creditsPerReset,
      shard: 'Premium (no credit throttling), or more namespaces, tenants spread over them',
    });
  }
  figures.sort((a, b) => a.resetsPerSecond - b.resetsPerSecond);

  const entities =
    shape.serviceBusTier === 'Standard'
      ? sb.standardEntitiesPerNamespace
      : sb.premiumEntitiesPerMessagingUnit * shape.premiumMessagingUnits;
  const namespace: Record<string, number> = {
    'queues per namespace': whole((entities - shape.sharedQueues) / shape.queuesPerTenant),
    'AMQP connections per namespace': whole(
      (sb.amqpConnectionsPerNamespace - shape.maxInstances * shape.connectionsPerInstance) /
        shape.connectionsPerAgent,
    ),
  };
  if (shape.serviceBusTier === 'Standard') {
    namespace['Standard credits at the peak rate'] = whole(
      sb.standardCreditsPerSecond /
        (perTenantHeartbeats * creditsPerHeartbeat + shape.peakResetsPerTenantPerSecond * creditsPerReset),
    );
  }
  const vault: Record<string, number> = {
    'vault operations at the peak rate': whole(
      vaultOpsPerSecond /
        (perTenantHeartbeats * heartbeat.keyVaultOperations +
          shape.peakResetsPerTenantPerSecond * reset.keyVaultOperations),
    ),
    'key rollover pacing': shape.tenantsPerVaultByRollover,
  };

  return {
    limits: figures,
    sustainedResetsPerSecond: figures[0]!.resetsPerSecond,
    firstLimit: figures[0]!,
    resetsPerSecondPerTenant: limits.tableStorage.entitiesPerSecondPerPartition / reset.tableEntities,
    tenantsPerNamespace: smallest(namespace),
    tenantsPerVault: smallest(vault),
  };
}

/** Tenants one vault holds on heartbeats alone (no resets at all). */
export function tenantsPerVaultOnHeartbeats(
  heartbeat: HeartbeatCosts,
  shape: Pick<DeploymentShape, 'keyProtection' | 'heartbeatIntervalSeconds'>,
  limits: Limits = AZURE_LIMITS,
): number {
  const perSecond =
    (shape.keyProtection === 'hsm'
      ? limits.keyVault.hsmOperationsPer10s
      : limits.keyVault.softwareOperationsPer10s) / 10;
  return whole(perSecond / (heartbeat.keyVaultOperations / shape.heartbeatIntervalSeconds));
}
