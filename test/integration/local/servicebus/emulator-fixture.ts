/** Starts an emulator on free ports with a temporary CA folder and builds SDK clients against it. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  isServiceBusError,
  ServiceBusAdministrationClient,
  ServiceBusClient,
  type ServiceBusError,
  type CreateQueueOptions,
  type ServiceBusClientOptions,
} from '@azure/service-bus';
import { startServiceBusEmulator, type ServiceBusEmulator } from '../../../../local/servicebus/index.js';

export interface Fixture {
  emulator: ServiceBusEmulator;
  rootKey: string;
  caPem: string;
  dir: string;
  admin: ServiceBusAdministrationClient;
  client: ServiceBusClient;
  /** A client for another connection string (closed by `close`). */
  clientFor(connectionString: string, options?: ServiceBusClientOptions): ServiceBusClient;
  /** Create a queue with a unique name. */
  queue(options?: CreateQueueOptions, prefix?: string): Promise<string>;
  close(): Promise<void>;
}

/** Fail fast: the SDK's default retries turn an expected error into a minute-long wait. */
export const FAST: ServiceBusClientOptions = { retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } };

let counter = 0;

export async function startFixture(options: { configFile?: string } = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-emulator-'));
  const rootKey = randomBytes(32).toString('base64');
  let emulator: ServiceBusEmulator;
  try {
    emulator = await startServiceBusEmulator({
      amqpPort: 0,
      managementPort: 0,
      certsDir: join(dir, 'certs'),
      rootKey,
      configFile: options.configFile,
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const caPem = await readFile(emulator.caPath, 'utf8');
  const admin = new ServiceBusAdministrationClient(emulator.connectionString, { tlsOptions: { ca: caPem } });
  const clients: ServiceBusClient[] = [];
  const clientFor = (connectionString: string, clientOptions: ServiceBusClientOptions = FAST) => {
    const client = new ServiceBusClient(connectionString, clientOptions);
    clients.push(client);
    return client;
  };
  const client = clientFor(emulator.connectionString);
  return {
    emulator,
    rootKey,
    caPem,
    dir,
    admin,
    client,
    clientFor,
    async queue(queueOptions = {}, prefix = 'q') {
      const name = `${prefix}-${process.pid}-${++counter}`;
      await admin.createQueue(name, queueOptions);
      return name;
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.close()));
      await emulator.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function connectionStringWith(emulator: ServiceBusEmulator, keyName: string, key: string): string {
  return `Endpoint=sb://${emulator.host}:${emulator.amqpPort};SharedAccessKeyName=${keyName};SharedAccessKey=${key};UseDevelopmentEmulator=true`;
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Trust the emulator's local CA in this process, as NODE_EXTRA_CA_CERTS does for a process started with
 * it. AMQPS needs it: the SDK's AMQP connection takes no CA option (its administration client does:
 * `tlsOptions`). Needs Node 22.19 or later (tls.setDefaultCACertificates).
 */
export function trustLocalCa(caPem: string): void {
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), caPem]);
}

/** The ServiceBusError code of a failure (the test fails on anything else). */
export function hasCode(code: ServiceBusError['code']) {
  return (error: unknown) => {
    assert.ok(isServiceBusError(error), `expected a ServiceBusError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}
