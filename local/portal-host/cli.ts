/**
 * `node dist/local/portal-host/cli.js --site-dir D [--config-file F] [--port N] [--host H]`: serves the
 * portal until SIGINT/SIGTERM or until its parent goes away; prints one ready line.
 */
import { closeOnStop } from '../process/child.js';
import { parseServiceArgs } from '../process/cli.js';
import { DEFAULT_PORTAL_PORT, startPortalHost } from './server.js';

const USAGE = `Usage: node dist/local/portal-host/cli.js --site-dir <dir> [options]

Options:
  --site-dir <dir>      the built site (dist/portal/site)                        (required)
  --config-file <f>     the file to serve as /config.json (default: the site's own)
  --port <n>            port (default ${DEFAULT_PORTAL_PORT}; 0 picks a free one)
  --host <address>      address to listen on (default 127.0.0.1)
  -h, --help            show this help
`;

async function main(): Promise<void> {
  const { values, port } = parseServiceArgs('portal', USAGE, {
    'site-dir': { type: 'string' },
    'config-file': { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
  });
  if (!values['site-dir']) throw new Error('--site-dir is required');
  const portal = await startPortalHost({
    siteDir: values['site-dir'],
    ...(values['config-file'] ? { configFile: values['config-file'] } : {}),
    port: port(values.port, DEFAULT_PORTAL_PORT),
    ...(values.host ? { host: values.host } : {}),
  });
  closeOnStop('portal', () => portal.close());
  process.stdout.write(`portal ready on ${portal.url}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`portal: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
