/**
 * The real app with every cloud dependency it provisions against: Azurite, the development identity
 * provider over HTTPS (callers' tokens and the app's client credentials), the Service Bus emulator
 * and the Key Vault emulator, all on free ports with a temporary local CA, wired the way
 * local/start.ts wires them. Tests reach the same services through the official SDKs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { KeyClient } from '@azure/keyvault-keys';
import { ServiceBusAdministrationClient } from '@azure/service-bus';
import { TableClient } from '@azure/data-tables';
import { azuriteConnectionString, startAzurite, type Azurite } from '../../local/azurite/index.js';
import { ensureLocalCa, issueServerCertificate, type LocalCa } from '../../local/certs/index.js';
import type { FunctionsHost } from '../../local/functions-host/index.js';
import {
  startIdentityProvider,
  type ClientRegistration,
  type IdentityProvider,
} from '../../local/identity/index.js';
import {
  startKeyVaultEmulator,
  type KeyVaultEmulator,
  type ThrottleOptions,
} from '../../local/keyvault/index.js';
import { startServiceBusEmulator, type ServiceBusEmulator } from '../../local/servicebus/index.js';
import { clientRegistrations, DEV_IDENTITIES, SERVICE_TENANT } from '../../local/stack/identities.js';
import { ensureQueue, sharedRepliesQueueSettings } from '../../shared/tenants/queues.js';
import { SHARED_REPLIES_QUEUE } from '../../shared/wire/index.js';
import { appSettings, startAppHost } from './app.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

/**
 * Fault proxies between the app (and the agent, which is given the app's endpoints) and each
 * dependency; the test's own clients go straight to the dependency, so they see through a fault.
 */
export interface CloudFaults {
  /** Azurite's table endpoint. */
  storage: FaultProxy;
  /** The Service Bus emulator's AMQP port (which also serves its management API over TLS). */
  serviceBus: FaultProxy;
  keyVault: FaultProxy;
  /** The vault's URL through its proxy, as the app and the agent reach it. */
  vaultUri: string;
}

export interface CloudUnderTest {
  api: string;
  host: FunctionsHost;
  identity: IdentityProvider;
  azurite: Azurite;
  serviceBus: ServiceBusEmulator;
  keyVault: KeyVaultEmulator;
  ca: LocalCa;
  /** The app's settings as the host got them. */
  env: Record<string, string>;
  /** Management client with the namespace's root rule, trusting the local CA. */
  serviceBusAdmin: ServiceBusAdministrationClient;
  /** A Key Vault client signed in as the developer identity (Crypto Officer and User on the vault). */
  keyClient(): KeyClient;
  /** The developer identity's credential, for other Key Vault clients (e.g. the agent's crypto). */
  developerCredential: TokenCredential;
  /** A client of one table of the app's storage. */
  table(name: string): TableClient;
  /** With `faults: true`: the proxies that freeze or stop each dependency for the app. */
  faults?: CloudFaults;
  stop(): Promise<void>;
}

/** Stops what was started, last first, and keeps going past failures. */
async function stopAll(stops: (() => Promise<unknown>)[]): Promise<void> {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
}

export interface CloudOptions {
  env?: Record<string, string>;
  /**
   * Create the shared `writeback-replies` before the host starts, as infrastructure does in Azure.
   * Without it the replies function's listener starts before the first enable creates the queue, and
   * the SDK only finds the queue on a later reconnect attempt.
   */
  sharedRepliesQueue?: boolean;
  /** Where the local CA lives (default: a temporary folder), e.g. shared with a telemetry capture. */
  certsDir?: string;
  /** Key Vault's service limits in the emulator (off by default). */
  keyVaultThrottle?: ThrottleOptions;
  /** Put a fault proxy between the app and each dependency (`CloudUnderTest.faults`). */
  faults?: boolean;
}

export async function startCloud(options: CloudOptions = {}): Promise<CloudUnderTest> {
  const dir = await mkdtemp(path.join(tmpdir(), 'writeback-cloud-'));
  const stops: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const certsDir = options.certsDir ?? path.join(dir, 'certs');
    const ca = await ensureLocalCa(certsDir);
    const { certPem, keyPem } = issueServerCertificate(ca, { hosts: ['127.0.0.1', 'localhost'] });
    const identity = await startIdentityProvider({
      port: 0,
      tls: { cert: certPem, key: keyPem },
      // The service identities of local/stack, as npm start registers them (written there as plain objects).
      clients: clientRegistrations() as ClientRegistration[],
      logError: () => undefined,
    });
    stops.push(() => identity.close());
    const azurite = await startAzurite();
    stops.push(() => azurite.stop());
    const serviceBus = await startServiceBusEmulator({ amqpPort: 0, managementPort: 0, certsDir });
    stops.push(() => serviceBus.close());
    const developer = DEV_IDENTITIES.developer;
    const keyVault = await startKeyVaultEmulator({
      port: 0,
      certsDir,
      inMemory: true,
      issuer: identity.issuer(SERVICE_TENANT),
      roleAssignments: [
        { principalId: DEV_IDENTITIES.functionsApp.objectId, role: 'Key Vault Crypto Officer' },
        { principalId: developer.objectId, role: 'Key Vault Crypto Officer' },
        { principalId: developer.objectId, role: 'Key Vault Crypto User' },
      ],
      logError: () => undefined,
      ...(options.keyVaultThrottle ? { throttle: options.keyVaultThrottle } : {}),
    });
    stops.push(() => keyVault.close());

    let faults: CloudFaults | undefined;
    if (options.faults) {
      const proxy = async (port: number): Promise<FaultProxy> => {
        const started = await startFaultProxy({ port });
        stops.push(() => started.close());
        return started;
      };
      const storage = await proxy(azurite.tablePort);
      const serviceBusProxy = await proxy(serviceBus.amqpPort);
      const keyVaultProxy = await proxy(Number(new URL(keyVault.vaultUri).port));
      const vaultUrl = new URL(keyVault.vaultUri);
      vaultUrl.port = String(keyVaultProxy.port);
      faults = {
        storage,
        serviceBus: serviceBusProxy,
        keyVault: keyVaultProxy,
        vaultUri: vaultUrl.origin,
      };
    }
    const env = appSettings(identity, {
      AzureWebJobsStorage: faults
        ? azuriteConnectionString({ ...azurite, tablePort: faults.storage.port })
        : azurite.connectionString,
      ServiceBusConnection: faults
        ? serviceBus.connectionString.replace(`:${serviceBus.amqpPort};`, `:${faults.serviceBus.port};`)
        : serviceBus.connectionString,
      KEYVAULT_URI: faults?.vaultUri ?? keyVault.vaultUri,
      KEYVAULT__tenantId: SERVICE_TENANT,
      KEYVAULT__clientId: DEV_IDENTITIES.functionsApp.clientId,
      KEYVAULT__clientSecret: DEV_IDENTITIES.functionsApp.clientSecret,
      KEYVAULT__authorityHost: identity.url,
      // The host calls the identity provider and both emulators over HTTPS: trust the local CA only.
      NODE_EXTRA_CA_CERTS: ca.caPath,
      ...options.env,
    });
    const serviceBusAdmin = new ServiceBusAdministrationClient(serviceBus.connectionString, {
      tlsOptions: { ca: ca.caPem },
    });
    if (options.sharedRepliesQueue) {
      await ensureQueue(serviceBusAdmin, SHARED_REPLIES_QUEUE, sharedRepliesQueueSettings());
    }
    const host = await startAppHost(env);
    stops.push(() => host.stop());

    const developerCredential: TokenCredential = {
      async getToken(): Promise<AccessToken> {
        const token = await identity.mintToken({
          tenant: SERVICE_TENANT,
          oid: developer.objectId,
          audience: 'https://vault.azure.net',
        });
        return { token, expiresOnTimestamp: Date.now() + 3_000_000 };
      },
    };
    return {
      api: `${host.url}/api`,
      host,
      identity,
      azurite,
      serviceBus,
      keyVault,
      ca,
      env,
      serviceBusAdmin,
      developerCredential,
      keyClient: () =>
        new KeyClient(keyVault.vaultUri, developerCredential, {
          tlsOptions: { ca: ca.caPem },
          disableChallengeResourceVerification: true,
          retryOptions: { maxRetries: 0 },
        }),
      table: (name) =>
        TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true }),
      ...(faults ? { faults } : {}),
      stop: () => stopAll(stops),
    };
  } catch (error) {
    await stopAll(stops);
    throw error;
  }
}
