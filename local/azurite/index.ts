/** Azurite for `npm start` (data under .local/) and for tests (free ports, a temporary folder). */
import { fileURLToPath } from 'node:url';
import { mkdir } from 'node:fs/promises';
import { freePort } from '../process/ports.js';
import { startService, type ServiceProcess } from '../process/child.js';

/** Azurite's well-known development account (public, documented by Microsoft). */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** Workspace folder; omitted: in memory. */
  location?: string;
  /** Ports; 0 or omitted: free ports (pass 10000-10002 for the usual ones). */
  blobPort?: number;
  queuePort?: number;
  tablePort?: number;
  onLine?: (line: string) => void;
}

export interface Azurite {
  blobPort: number;
  queuePort: number;
  tablePort: number;
  /** A connection string for this instance, usable as AzureWebJobsStorage. */
  connectionString: string;
  process: ServiceProcess;
  stop(): Promise<void>;
}

export function azuriteConnectionString(ports: {
  blobPort: number;
  queuePort: number;
  tablePort: number;
}): string {
  const base = 'http://127.0.0.1';
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${DEV_ACCOUNT}`,
    `AccountKey=${DEV_ACCOUNT_KEY}`,
    `BlobEndpoint=${base}:${ports.blobPort}/${DEV_ACCOUNT}`,
    `QueueEndpoint=${base}:${ports.queuePort}/${DEV_ACCOUNT}`,
    `TableEndpoint=${base}:${ports.tablePort}/${DEV_ACCOUNT}`,
  ].join(';');
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  const ports = {
    blobPort: options.blobPort || (await freePort()),
    queuePort: options.queuePort || (await freePort()),
    tablePort: options.tablePort || (await freePort()),
  };
  if (options.location) await mkdir(options.location, { recursive: true });
  const args = [
    '--blobPort',
    String(ports.blobPort),
    '--queuePort',
    String(ports.queuePort),
    '--tablePort',
    String(ports.tablePort),
    // The SDKs may be newer than this Azurite; the APIs we use are old and stable.
    '--skipApiVersionCheck',
    '--disableTelemetry',
    '--silent',
    ...(options.location ? ['--location', options.location] : ['--inMemoryPersistence']),
  ];
  const service = await startService({
    name: 'azurite',
    script: fileURLToPath(new URL('./cli.js', import.meta.url)),
    args,
    ready: /Azurite Table service is successfully listening/,
    onLine: options.onLine,
  });
  return {
    ...ports,
    connectionString: azuriteConnectionString(ports),
    process: service,
    stop: () => service.stop(),
  };
}
