import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  capacityModel,
  tenantsPerVaultOnHeartbeats,
  type DeploymentShape,
  type HeartbeatCosts,
  type ResetCosts,
} from '../../../bench/capacity-model.js';

const reset: ResetCosts = {
  keyVaultOperations: 3,
  serviceBusDataOperations: 6,
  serviceBusManagementOperations: 0,
  tableTransactions: 4,
  tableEntities: 10,
  hostCpuMs: 5,
  latencyMs: 50,
};
const heartbeat: HeartbeatCosts = {
  keyVaultOperations: 1,
  serviceBusDataOperations: 4,
  tableTransactions: 2,
};
const shape: DeploymentShape = {
  keyProtection: 'hsm',
  serviceBusTier: 'Standard',
  premiumMessagingUnits: 1,
  maxInstances: 100,
  httpConcurrencyPerInstance: 16,
  vCpusPerInstance: 1,
  heartbeatIntervalSeconds: 300,
  queuesPerTenant: 2,
  sharedQueues: 1,
  connectionsPerAgent: 2,
  connectionsPerInstance: 2,
  tenants: 3000,
  peakResetsPerTenantPerSecond: 0.01,
  tenantsPerVaultByRollover: 34000,
};

const near = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 1e-6, `${actual} is not ${expected}`);

test('a hand-computed deployment: every limit, the first to saturate, and the tenants it holds', () => {
  const answers = capacityModel(reset, heartbeat, shape);
  const byName = Object.fromEntries(answers.limits.map((l) => [l.limit.split(' (')[0], l.resetsPerSecond]));
  // 3,000 tenants beat every 300 s: 10 heartbeats a second.
  // Vault: 2,000 HSM operations per 10 s = 200/s, less 10 signatures, over 3 operations a reset.
  near(byName['Key Vault operations per vault']!, 190 / 3);
  // Standard: 1,000 credits/s, less 10 × 4 credits, over 6 credits a reset.
  near(byName['Service Bus Standard credits per namespace']!, 160);
  // Account: 20,000 requests/s, less 10 × 2, over 4 a reset.
  near(byName['Table storage requests per account']!, 4995);
  // An instance: min(16 slots / 0.05 s = 320, 1 vCPU / 5 ms = 200) = 200; × 100 instances.
  near(byName['Function app']!, 20000);
  assert.equal(answers.firstLimit.limit, 'Key Vault operations per vault (hsm keys)');
  near(answers.sustainedResetsPerSecond, 190 / 3);
  assert.deepEqual(
    answers.limits.map((l) => Math.round(l.resetsPerSecond)),
    [63, 160, 4995, 20000],
  );
  // One tenant's partition: 2,000 entities/s over 10 a reset.
  near(answers.resetsPerSecondPerTenant, 200);
  // Namespace: (10,000 − 1) / 2 queues = 4,999; (5,000 − 100 × 2) / 2 connections = 2,400;
  // credits: 1,000 / (4/300 + 0.01 × 6) = 13,636.
  assert.deepEqual(answers.tenantsPerNamespace, {
    count: 2400,
    limitedBy: 'AMQP connections per namespace',
    byLimit: {
      'queues per namespace': 4999,
      'AMQP connections per namespace': 2400,
      'Standard credits at the peak rate': 13636,
    },
  });
  // Vault: 200 / (1/300 + 0.01 × 3) = 6,000 exactly, below the 34,000 the rollover paces.
  assert.deepEqual(answers.tenantsPerVault, {
    count: 6000,
    limitedBy: 'vault operations at the peak rate',
    byLimit: { 'vault operations at the peak rate': 6000, 'key rollover pacing': 34000 },
  });
  // Heartbeats alone: 200 / (1/300) = 60,000.
  assert.equal(tenantsPerVaultOnHeartbeats(heartbeat, shape), 60000);
});

test('software keys double the vault; Premium has no credits and a queue limit per messaging unit', () => {
  const answers = capacityModel(reset, heartbeat, {
    ...shape,
    keyProtection: 'software',
    serviceBusTier: 'Premium',
    premiumMessagingUnits: 2,
  });
  near(answers.limits[0]!.resetsPerSecond, (400 - 10) / 3);
  assert.ok(!answers.limits.some((l) => l.limit.startsWith('Service Bus')));
  // (2 × 1,000 − 1) / 2 = 999 tenants by queues.
  assert.deepEqual(answers.tenantsPerNamespace.byLimit, {
    'queues per namespace': 999,
    'AMQP connections per namespace': 2400,
  });
  assert.equal(answers.tenantsPerNamespace.limitedBy, 'queues per namespace');
});
