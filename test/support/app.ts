/**
 * The real function app (this repository's compiled `dist/functions/*.js`) in the local Functions
 * host, with the development identity provider: what the API tests and the e2e tests start.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFunctionsHost, type FunctionsHost } from '../../local/functions-host/index.js';
import { startIdentityProvider, type IdentityProvider } from '../../local/identity/index.js';

/** The repository root: dist/test/support/ is three levels below it. */
export const REPO_ROOT = path.resolve(fileURLToPath(new URL('../../..', import.meta.url)));

export const TEST_AUDIENCE = 'api://writeback';

export interface AppUnderTest {
  host: FunctionsHost;
  identity: IdentityProvider;
  api: string;
  stop(): Promise<void>;
}

/** The settings the app needs, pointing at `identity`; tests override single values. */
export function appSettings(
  identity: IdentityProvider,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    FUNCTIONS_WORKER_RUNTIME: 'node',
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    // Well-formed, so the app starts; tests that use Service Bus or Key Vault point these at emulators.
    ServiceBusConnection:
      'Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=unused;UseDevelopmentEmulator=true',
    KEYVAULT_URI: 'https://127.0.0.1:1',
    AUTH_ISSUER: identity.issuerTemplate,
    AUTH_AUDIENCE: TEST_AUDIENCE,
    // The host resolves %KEY_ROLLOVER_SCHEDULE% in the keyRollover binding, as Azure's does.
    KEY_ROLLOVER_SCHEDULE: '0 0 3 * * *',
    ...overrides,
  };
}

/** The real app in a host of its own (temporary data dir, free port); stop() also removes the data dir. */
export async function startAppHost(env: Record<string, string>): Promise<FunctionsHost> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'writeback-app-'));
  try {
    const host = await startFunctionsHost({ appDir: REPO_ROOT, port: 0, dataDir, env });
    return {
      ...host,
      async stop() {
        const code = await host.stop();
        await rm(dataDir, { recursive: true, force: true });
        return code;
      },
    };
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

export async function startRealApp(options: { env?: Record<string, string> } = {}): Promise<AppUnderTest> {
  const identity = await startIdentityProvider({ port: 0 });
  let host: FunctionsHost;
  try {
    host = await startAppHost(appSettings(identity, options.env));
  } catch (error) {
    await identity.close();
    throw error;
  }
  return {
    host,
    identity,
    api: `${host.url}/api`,
    async stop() {
      await host.stop();
      await identity.close();
    },
  };
}
