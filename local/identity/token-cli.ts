/**
 * `npm run token -- --tenant contoso --user alice@contoso.test [--admin]`: prints a development access
 * token and nothing else on stdout, so that `TOKEN=$(npm run -s token -- …)` works. It signs with the
 * key in `.local/identity/` (the one the provider of `npm start` publishes), so no server is needed.
 */
import '../../shared/runtime/require-supported-node.js';
import { parseArgs } from 'node:util';
import {
  ADMIN_ROLE,
  DEFAULT_IDENTITY_DATA_DIR,
  DEFAULT_IDENTITY_URL,
  isTenantId,
  mintTokenOffline,
} from './index.js';
import type { MintOptions } from './index.js';

const USAGE = `Usage: npm run token -- --tenant <tenant> --user <upn> [options]

Prints a development access token (Entra ID v2 shape) signed by the local identity provider.

Options:
  --tenant <id>        tenant id (tid), e.g. contoso                          (required)
  --user <upn>         the user's UPN, e.g. alice@contoso.test                 (required)
  --admin              add the role ${ADMIN_ROLE}
  --roles <r1,r2>      add these application roles
  --audience <aud>     token audience (default api://writeback)
  --lifetime <secs>    lifetime in seconds, 1 to 86400 (default 3600)
  --sid <S-1-5-…>      on-premises SID (onprem_sid)
  --oid <uuid>         object id (default: derived from tenant and UPN)
  --name <name>        display name
  --issuer-url <url>   base URL of the identity provider (default ${DEFAULT_IDENTITY_URL})
  --data-dir <dir>     where the signing key is kept (default ${DEFAULT_IDENTITY_DATA_DIR})
  -h, --help           show this help
`;

class UsageError extends Error {}

function parseCommandLine(
  argv: string[],
): { mint: MintOptions; issuerBaseUrl: string; dataDir: string } | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        tenant: { type: 'string' },
        user: { type: 'string' },
        admin: { type: 'boolean', default: false },
        roles: { type: 'string' },
        audience: { type: 'string' },
        lifetime: { type: 'string' },
        sid: { type: 'string' },
        oid: { type: 'string' },
        name: { type: 'string' },
        'issuer-url': { type: 'string' },
        'data-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';

  if (!v.tenant) throw new UsageError('--tenant is required.');
  if (!isTenantId(v.tenant)) {
    throw new UsageError(
      '--tenant must be 1-63 letters, digits or hyphens, starting with a letter or digit.',
    );
  }
  if (!v.user) throw new UsageError('--user is required.');
  if (!/^[^@\s]+@[^@\s]+$/.test(v.user))
    throw new UsageError('--user must be a UPN such as alice@contoso.test.');

  const roles = new Set<string>();
  if (v.roles !== undefined) {
    const listed = v.roles.split(',').map((r) => r.trim());
    if (listed.some((r) => !r)) throw new UsageError('--roles must be a comma-separated list of role names.');
    listed.forEach((r) => roles.add(r));
  }
  if (v.admin) roles.add(ADMIN_ROLE);

  let lifetimeSeconds: number | undefined;
  if (v.lifetime !== undefined) {
    lifetimeSeconds = /^\d+$/.test(v.lifetime) ? Number(v.lifetime) : NaN;
    if (!(lifetimeSeconds >= 1 && lifetimeSeconds <= 86_400)) {
      throw new UsageError('--lifetime must be a whole number of seconds from 1 to 86400.');
    }
  }
  if (v.audience !== undefined && !v.audience.trim()) throw new UsageError('--audience must not be empty.');
  if (v.sid !== undefined && !/^S-1-\d+(-\d+)+$/.test(v.sid)) {
    throw new UsageError('--sid must be a SID such as S-1-5-21-1004336348-1177238915-682003330-1001.');
  }
  if (v.oid !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v.oid)) {
    throw new UsageError('--oid must be a UUID.');
  }
  const issuerBaseUrl = v['issuer-url'] ?? DEFAULT_IDENTITY_URL;
  if (!URL.canParse(issuerBaseUrl) || !/^https?:$/.test(new URL(issuerBaseUrl).protocol)) {
    throw new UsageError('--issuer-url must be an http or https URL such as http://127.0.0.1:7072.');
  }

  return {
    mint: {
      tenant: v.tenant,
      upn: v.user,
      ...(roles.size ? { roles: [...roles] } : {}),
      ...(v.audience !== undefined ? { audience: v.audience.trim() } : {}),
      ...(lifetimeSeconds !== undefined ? { lifetimeSeconds } : {}),
      ...(v.sid !== undefined ? { onPremisesSid: v.sid } : {}),
      ...(v.oid !== undefined ? { oid: v.oid.toLowerCase() } : {}),
      ...(v.name ? { name: v.name } : {}),
    },
    issuerBaseUrl,
    dataDir: v['data-dir'] ?? DEFAULT_IDENTITY_DATA_DIR,
  };
}

async function main(): Promise<number> {
  let command;
  try {
    command = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`token: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const token = await mintTokenOffline(command.mint, {
    dataDir: command.dataDir,
    issuerBaseUrl: command.issuerBaseUrl,
  });
  process.stdout.write(`${token}\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`token: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
