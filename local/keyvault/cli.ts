/**
 * `node dist/local/keyvault/cli.js [--port N] [--host H] [--data-dir D] [--in-memory] [--config F]
 *  [--certs-dir C] [--issuer URL] [--throttle] [--throttle-retry-after] [--page-size N]`: runs the Key
 * Vault emulator until SIGINT/SIGTERM or until its parent goes away. Throttling and the page size can
 * also come from the environment (KEYVAULT_EMULATOR_THROTTLE, KEYVAULT_EMULATOR_THROTTLE_RETRY_AFTER,
 * KEYVAULT_EMULATOR_PAGE_SIZE), so that `KEYVAULT_EMULATOR_THROTTLE=1 npm start` turns it on. Prints a banner ending with one ready line
 * (`Key Vault emulator ready on https://…`) and, with an IPC channel, sends `{ type: 'ready', vaultUri }`.
 */
import path from 'node:path';
import { closeOnStop } from '../process/child.js';
import {
  DEFAULT_CERTS_DIR,
  DEFAULT_KEYVAULT_DATA_DIR,
  DEFAULT_KEYVAULT_HOST,
  DEFAULT_KEYVAULT_ISSUER,
  DEFAULT_KEYVAULT_PORT,
  MAX_PAGE_SIZE,
  readKeyVaultConfig,
  startKeyVaultEmulator,
  type KeyVaultConfig,
} from './index.js';
import { parseServiceArgs } from '../process/cli.js';

const USAGE = `Usage: node dist/local/keyvault/cli.js [options]

Options:
  --port <n>          HTTPS port (default ${DEFAULT_KEYVAULT_PORT}; 0 picks a free one)
  --host <address>    address to listen on (default ${DEFAULT_KEYVAULT_HOST})
  --data-dir <dir>    where keys are kept (default ${DEFAULT_KEYVAULT_DATA_DIR})
  --in-memory         keep keys in memory only (nothing is written)
  --config <file>     JSON config: issuer, administrators, roleAssignments, throttle, softDeleteRetentionDays
  --certs-dir <dir>   the local CA's folder (default ${DEFAULT_CERTS_DIR}); callers set NODE_EXTRA_CA_CERTS=<dir>/ca.pem
  --issuer <url>      the token issuer the vault trusts (default ${DEFAULT_KEYVAULT_ISSUER})
  --throttle          apply Key Vault's service limits (also on when the config file has "throttle",
                      or with KEYVAULT_EMULATOR_THROTTLE=1 in the environment)
  --throttle-retry-after
                      add Retry-After to 429 answers, which Key Vault does not send
                      (or KEYVAULT_EMULATOR_THROTTLE_RETRY_AFTER=1); implies --throttle
  --page-size <n>     items per page of the list operations when the caller gives no maxresults,
                      1 to ${MAX_PAGE_SIZE} (default and Key Vault's ${MAX_PAGE_SIZE}; or KEYVAULT_EMULATOR_PAGE_SIZE)
  -h, --help          show this help
`;

/** An on/off environment variable: 1/true/on/yes or 0/false/off/no (anything else is refused). */
function envFlag(name: string): boolean | undefined {
  const raw = process.env[name]?.trim().toLowerCase();
  if (!raw) return undefined;
  if (['1', 'true', 'on', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'off', 'no'].includes(raw)) return false;
  throw new Error(`${name} must be 1 or 0 (true/false, on/off), got "${process.env[name]}"`);
}

async function main(): Promise<void> {
  const { values, port: portFlag } = parseServiceArgs('keyvault', USAGE, {
    port: { type: 'string' },
    host: { type: 'string' },
    'data-dir': { type: 'string' },
    'in-memory': { type: 'boolean', default: false },
    config: { type: 'string' },
    'certs-dir': { type: 'string' },
    issuer: { type: 'string' },
    throttle: { type: 'boolean', default: false },
    'throttle-retry-after': { type: 'boolean', default: false },
    'page-size': { type: 'string' },
  });
  const port = portFlag(values.port, DEFAULT_KEYVAULT_PORT);

  const config: KeyVaultConfig = values.config ? await readKeyVaultConfig(values.config) : {};
  const dataDir = path.resolve(values['data-dir'] ?? DEFAULT_KEYVAULT_DATA_DIR);
  const certsDir = path.resolve(values['certs-dir'] ?? DEFAULT_CERTS_DIR);
  const retryAfter =
    values['throttle-retry-after'] || (envFlag('KEYVAULT_EMULATOR_THROTTLE_RETRY_AFTER') ?? false);
  const throttleOn =
    values.throttle || retryAfter || (envFlag('KEYVAULT_EMULATOR_THROTTLE') ?? config.throttle !== undefined);
  const throttle = throttleOn
    ? { ...config.throttle, ...(retryAfter ? { retryAfter: true } : {}) }
    : undefined;
  const rawPageSize = values['page-size'] ?? process.env.KEYVAULT_EMULATOR_PAGE_SIZE?.trim();
  const pageSize = rawPageSize ? Number(rawPageSize) : config.pageSize;
  if (pageSize !== undefined && !(Number.isInteger(pageSize) && pageSize >= 1 && pageSize <= MAX_PAGE_SIZE)) {
    throw new Error(`the page size must be an integer from 1 to ${MAX_PAGE_SIZE}, got "${rawPageSize}"`);
  }
  const emulator = await startKeyVaultEmulator({
    port,
    host: values.host ?? DEFAULT_KEYVAULT_HOST,
    certsDir,
    ...(values['in-memory'] ? { inMemory: true } : { dataDir }),
    issuer: values.issuer ?? config.issuer ?? DEFAULT_KEYVAULT_ISSUER,
    roleAssignments: config.roleAssignments ?? [],
    administrators: config.administrators ?? [],
    ...(throttle ? { throttle } : {}),
    ...(pageSize !== undefined ? { pageSize } : {}),
    ...(config.softDeleteRetentionDays ? { softDeleteRetentionDays: config.softDeleteRetentionDays } : {}),
  });

  closeOnStop('keyvault', () => emulator.close());

  const assignments = emulator.roleAssignments();
  const lines = [
    'Key Vault emulator (keys API, for @azure/keyvault-keys)',
    `  vault URI       ${emulator.vaultUri}   (KEYVAULT_URI)`,
    `  TLS             certificate from the local CA; callers need NODE_EXTRA_CA_CERTS=${emulator.caPath}`,
    `  tokens          issuer ${emulator.issuer}, audience https://vault.azure.net`,
    `  persistence     ${emulator.dataDir ? `keys in ${path.resolve(emulator.dataDir, 'keys')} (files mode 0600)` : 'in memory only (nothing written)'}`,
    `  RBAC            ${assignments.length} role assignment(s)${values.config ? ` from ${values.config}` : ''}; admin endpoint /.emulator/role-assignments for ${config.administrators?.length ?? 0} administrator(s)`,
    `  throttling      ${throttle ? `on (429 over Key Vault's limits; rotate counts as a create; ${throttle.retryAfter ? 'with' : 'no'} Retry-After)` : 'off'}`,
    ...(pageSize !== undefined && pageSize !== MAX_PAGE_SIZE
      ? [`  paging          ${pageSize} items per page unless the caller asks`]
      : []),
    `Key Vault emulator ready on ${emulator.vaultUri}`,
  ];
  // With a callback, a parent that is already gone is not an 'error' event (EPIPE) of this process.
  process.send?.({ type: 'ready', vaultUri: emulator.vaultUri }, undefined, {}, () => undefined);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`keyvault: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
