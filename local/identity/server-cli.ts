/**
 * `node dist/local/identity/server-cli.js [--port N] [--host H] [--data-dir D] [--clients-file F] [--tls-ca-dir C]`:
 * runs the development identity provider until SIGINT/SIGTERM or until its parent goes away.
 * Prints one ready line on stdout and, when spawned with an IPC channel, also sends
 * `{ type: 'ready', url, issuerTemplate }` to the parent.
 */
import { readFile } from 'node:fs/promises';
import { ensureLocalCa, issueServerCertificate } from '../certs/index.js';
import { closeOnStop } from '../process/child.js';
import {
  DEFAULT_IDENTITY_DATA_DIR,
  DEFAULT_IDENTITY_HOST,
  DEFAULT_IDENTITY_PORT,
  startIdentityProvider,
  type ClientRegistration,
  type DevelopmentUser,
  type SpaRegistration,
} from './index.js';
import { parseServiceArgs } from '../process/cli.js';

const USAGE = `Usage: node dist/local/identity/server-cli.js [options]

Options:
  --port <n>           port (default ${DEFAULT_IDENTITY_PORT}; 0 picks a free one)
  --host <address>     address to listen on (default ${DEFAULT_IDENTITY_HOST})
  --data-dir <dir>     where the signing key is kept (default ${DEFAULT_IDENTITY_DATA_DIR})
  --clients-file <f>   JSON array of { clientId, clientSecret, objectId?, roles? } for client credentials
  --sign-in-file <f>   JSON { applications: [{ clientId, name?, redirectUris }], users: [{ tenant, upn, name?, roles? }] }
                       for the development sign-in page (authorization code with PKCE)
  --tls-ca-dir <dir>   serve HTTPS with a certificate from the local CA in <dir> (e.g. .local/certs)
  -h, --help           show this help
`;

async function readClients(file: string): Promise<ClientRegistration[]> {
  const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
  const valid =
    Array.isArray(parsed) &&
    parsed.every(
      (c: Partial<ClientRegistration> | null) =>
        typeof c?.clientId === 'string' &&
        typeof c.clientSecret === 'string' &&
        (c.objectId === undefined || typeof c.objectId === 'string') &&
        (c.roles === undefined || (Array.isArray(c.roles) && c.roles.every((r) => typeof r === 'string'))),
    );
  if (!valid)
    throw new Error(`${file} must be a JSON array of { clientId, clientSecret, objectId?, roles? }.`);
  return parsed as ClientRegistration[];
}

async function readSignIn(
  file: string,
): Promise<{ applications: SpaRegistration[]; users: DevelopmentUser[] }> {
  const parsed = JSON.parse(await readFile(file, 'utf8')) as {
    applications?: Partial<SpaRegistration>[];
    users?: Partial<DevelopmentUser>[];
  };
  const strings = (value: unknown) => Array.isArray(value) && value.every((v) => typeof v === 'string');
  const valid =
    Array.isArray(parsed.applications) &&
    parsed.applications.every((a) => typeof a.clientId === 'string' && strings(a.redirectUris)) &&
    Array.isArray(parsed.users) &&
    parsed.users.every(
      (u) =>
        typeof u.tenant === 'string' &&
        typeof u.upn === 'string' &&
        (u.roles === undefined || strings(u.roles)),
    );
  if (!valid) throw new Error(`${file} must hold { applications: [...], users: [...] } (see --help).`);
  return parsed as { applications: SpaRegistration[]; users: DevelopmentUser[] };
}

async function main(): Promise<void> {
  const { values, port: portFlag } = parseServiceArgs('identity', USAGE, {
    port: { type: 'string' },
    host: { type: 'string' },
    'data-dir': { type: 'string' },
    'clients-file': { type: 'string' },
    'sign-in-file': { type: 'string' },
    'tls-ca-dir': { type: 'string' },
  });
  const port = portFlag(values.port, DEFAULT_IDENTITY_PORT);

  const host = values.host ?? DEFAULT_IDENTITY_HOST;
  let tls: { cert: string; key: string } | undefined;
  if (values['tls-ca-dir']) {
    const ca = await ensureLocalCa(values['tls-ca-dir']);
    const { certPem, keyPem } = issueServerCertificate(ca, {
      hosts: [...new Set([host, '127.0.0.1', 'localhost'])].filter((h) => h !== '0.0.0.0' && h !== '::'),
    });
    tls = { cert: certPem, key: keyPem };
  }
  const provider = await startIdentityProvider({
    port,
    host,
    ...(tls ? { tls } : {}),
    dataDir: values['data-dir'] ?? DEFAULT_IDENTITY_DATA_DIR,
    clients: values['clients-file'] ? await readClients(values['clients-file']) : [],
    ...(values['sign-in-file'] ? await readSignIn(values['sign-in-file']) : {}),
  });

  closeOnStop('identity', () => provider.close());
  process.send?.({ type: 'ready', url: provider.url, issuerTemplate: provider.issuerTemplate });
  process.stdout.write(
    `identity provider ready on ${provider.url} (AUTH_ISSUER=${provider.issuerTemplate})\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`identity: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
