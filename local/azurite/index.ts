/** Azurite for `npm start` (data under .local/) and for tests (port 0: any free ports, a temporary folder). */
import { fileURLToPath } from 'node:url';
import { mkdir } from 'node:fs/promises';
import { startService, type ServiceProcess } from '../process/child.js';

/** Azurite's well-known development account (public, documented by Microsoft). */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** Workspace folder; omitted: in memory. */
  location?: string;
  /** Ports; 0 or omitted: any free ports, as the OS picks them (pass 10000-10002 for the usual ones). */
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
  /** Where the counts of the requests Azurite received are served (request-counter.ts). */
  statsUrl: string;
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
  if (options.location) await mkdir(options.location, { recursive: true });
  const args = [
    '--blobPort',
    String(options.blobPort ?? 0),
    '--queuePort',
    String(options.queuePort ?? 0),
    '--tablePort',
    String(options.tablePort ?? 0),
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
  // Azurite prints the port each service bound: "Azurite Blob service is successfully listening at http://127.0.0.1:10000".
  const portOf = (kind: string): number => {
    const listening = new RegExp(`Azurite ${kind} service is successfully listening at \\S+:(\\d+)`);
    const port = Number(listening.exec(service.output())?.[1]);
    if (!port)
      throw new Error(`Azurite did not say which port its ${kind} service listens on:\n${service.output()}`);
    return port;
  };
  let ports: { blobPort: number; queuePort: number; tablePort: number };
  let statsUrl: string;
  try {
    ports = { blobPort: portOf('Blob'), queuePort: portOf('Queue'), tablePort: portOf('Table') };
    statsUrl = /Azurite request counters at (\S+)/.exec(service.output())?.[1] ?? '';
    if (!statsUrl)
      throw new Error(`Azurite did not say where its request counters are:\n${service.output()}`);
  } catch (error) {
    await service.stop();
    throw error;
  }
  return {
    ...ports,
    connectionString: azuriteConnectionString(ports),
    statsUrl,
    process: service,
    stop: async () => void (await service.stop()),
  };
}
