/**
 * `npm start`: the whole local stack in one command, on the same compiled app that runs in Azure.
 * `npm run emulators` (`--emulators-only`): everything but the Functions host, for the real `func start`.
 *
 * Each service is a child process; Ctrl-C (or SIGTERM) stops them all in reverse order, and each
 * child also stops by itself if this process dies, so nothing is left behind.
 */
import '../shared/runtime/require-supported-node.js';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parseServiceArgs } from './process/cli.js';
import { startAzurite } from './azurite/index.js';
import { ensureLocalCa } from './certs/index.js';
import { startService, type ServiceProcess, type StartServiceOptions } from './process/child.js';
import {
  clientRegistrations,
  DEV_IDENTITIES,
  PORTAL_API_SCOPE,
  portalSignIn,
  SERVICE_TENANT,
  serviceBusRoleAssignments,
  vaultConfig,
} from './stack/identities.js';
import { DEVELOPMENT_PORTAL_APP_ID } from './identity/index.js';
import { provisionDemoTenant } from './stack/demo-tenant.js';
import { serviceBusConfig } from './stack/servicebus-config.js';
import { DEMO_TENANT, DEMO_USER_PASSWORD, DEMO_USERS } from '../agent/demo-config.js';

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const script = (relative: string): string => path.join(root, 'dist', 'local', relative);

interface Running {
  name: string;
  stop(): Promise<unknown>;
}

/** The port a service printed in its ready line or banner (`pattern`'s first group is a URL or a port). */
function portIn(pattern: RegExp, text: string, service: string): number {
  const found = pattern.exec(text)?.[1];
  const port = found === undefined ? NaN : Number(/^\d+$/.test(found) ? found : new URL(found).port);
  if (!Number.isInteger(port) || port < 1) throw new Error(`${service} did not say which port it listens on`);
  return port;
}

function prefixed(name: string): (line: string) => void {
  const tag = `[${name}]`.padEnd(13);
  return (line) => console.log(`${tag} ${line}`);
}

/**
 * The app's settings: local.settings.json when the developer has one (as Core Tools reads it),
 * otherwise the sample, which works against this stack as it is.
 */
async function readLocalSettings(): Promise<{ file: string; values: Record<string, string> }> {
  for (const name of ['local.settings.json', 'local.settings.sample.json']) {
    const file = path.join(root, name);
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as { Values?: Record<string, string> };
      return { file: name, values: parsed.Values ?? {} };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${name} is not valid JSON`);
    }
  }
  throw new Error('neither local.settings.json nor local.settings.sample.json was found');
}

async function writePrivateJson(file: string, content: object): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(content, null, 2), { mode: 0o600 });
  return file;
}

const options = {
  'emulators-only': { type: 'boolean', default: false },
  'data-dir': { type: 'string', default: path.join(root, '.local') },
  'host-port': { type: 'string', default: '7071' },
  'identity-port': { type: 'string', default: '7072' },
  'blob-port': { type: 'string', default: '10000' },
  'queue-port': { type: 'string', default: '10001' },
  'table-port': { type: 'string', default: '10002' },
  'amqp-port': { type: 'string', default: '5672' },
  // Default 5671, or any free port when --amqp-port is 0 (as the emulator's own default).
  'amqps-port': { type: 'string', default: '' },
  'management-port': { type: 'string', default: '5443' },
  'keyvault-port': { type: 'string', default: '8443' },
  'portal-port': { type: 'string', default: '8080' },
  'demo-users': { type: 'string', default: '0' },
} as const;

const USAGE = `Usage: npm start [-- options]   (or: node dist/local/start.js [options])

The whole local stack: Azurite, the identity provider, the Service Bus and Key Vault emulators, the
Functions host, a demo agent for tenant contoso and the portal. Ctrl-C stops everything.

Options:
  --emulators-only        only Azurite, the emulators and the identity provider (for the real func start)
  --data-dir DIR          where the stack keeps its state (default .local)
  --host-port N           Functions host (default 7071)
  --identity-port N       identity provider (default 7072)
  --blob-port N, --queue-port N, --table-port N   Azurite (default 10000, 10001, 10002)
  --amqp-port N           Service Bus AMQP, plain TCP for UseDevelopmentEmulator=true (default 5672)
  --amqps-port N          Service Bus AMQPS, TLS as in Azure; the demo agent's (default 5671; free if --amqp-port 0)
  --management-port N     Service Bus management HTTPS (default 5443)
  --keyvault-port N       Key Vault emulator HTTPS (default 8443)
  --portal-port N         the portal's static site (default 8080)
  --demo-users N          N more users in the demo agent's directory, user-1@contoso.test … (the benchmark)
  -h, --help              this text
A port of 0 picks any free one; the banner says which.
`;

function portOf(flags: Record<string, unknown>, name: string): number {
  const port = Number(flags[name]);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--${name} must be a TCP port (0: any free one)`);
  return port;
}

async function main(): Promise<void> {
  const { values: flags } = parseServiceArgs('npm start', USAGE, options);
  const emulatorsOnly = flags['emulators-only'];
  const dataDir = path.resolve(flags['data-dir']);
  const running: Running[] = [];
  let stopping = false;

  const stopAll = async (exitCode: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      console.log('\nStopping the local stack...');
      for (const service of running.reverse()) {
        await service
          .stop()
          .catch((error: unknown) => console.error(`${service.name} did not stop cleanly: ${String(error)}`));
      }
      console.log('Stopped.');
    }
    process.exit(exitCode);
  };
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));

  try {
    const settings = await readLocalSettings();
    const demoUsers = Number(flags['demo-users']);
    if (!Number.isInteger(demoUsers) || demoUsers < 0 || demoUsers > 9_000)
      throw new Error('--demo-users must be a whole number from 0 to 9000');
    if (flags['amqps-port'] === '') flags['amqps-port'] = flags['amqp-port'] === '0' ? '0' : '5671';
    const ports = Object.fromEntries(
      Object.keys(options)
        .filter((name) => name.endsWith('-port'))
        .map((name) => [name, portOf(flags, name)]),
    ) as Record<`${string}-port`, number>;
    const certsDir = path.join(dataDir, 'certs');
    const ca = await ensureLocalCa(certsDir);
    // Every process that calls an emulator trusts the one local CA, and nothing else is relaxed.
    const childEnv: NodeJS.ProcessEnv = { ...process.env, NODE_EXTRA_CA_CERTS: ca.caPath };
    /** Starts a service with its output prefixed, and stops it with the others. */
    const start = async (
      name: string,
      file: string,
      args: string[],
      ready: RegExp,
      more: Partial<StartServiceOptions> = {},
    ): Promise<ServiceProcess> => {
      const service = await startService({
        name,
        script: file,
        args,
        env: childEnv,
        ready,
        onLine: prefixed(name),
        ...more,
      });
      running.push(service);
      return service;
    };

    const azurite = await startAzurite({
      location: path.join(dataDir, 'azurite'),
      blobPort: ports['blob-port'],
      queuePort: ports['queue-port'],
      tablePort: ports['table-port'],
      onLine: prefixed('azurite'),
    });
    running.push({ name: 'azurite', stop: azurite.stop });

    // The portal first: the identity provider registers its redirect URI, the host allows its origin.
    const portalConfigFile = path.join(dataDir, 'portal', 'config.json');
    const portal = await start(
      'portal',
      script('portal-host/cli.js'),
      [
        '--site-dir',
        path.join(root, 'dist', 'portal', 'site'),
        '--config-file',
        portalConfigFile,
        '--port',
        String(ports['portal-port']),
      ],
      /portal ready on (\S+)/,
    );
    const portalUrl = `http://127.0.0.1:${portIn(/(.*)/, portal.readyLine?.[1] ?? '', 'portal')}`;

    const identity = await start(
      'identity',
      script('identity/server-cli.js'),
      [
        '--port',
        String(ports['identity-port']),
        '--data-dir',
        path.join(dataDir, 'identity'),
        '--tls-ca-dir',
        certsDir,
        '--clients-file',
        await writePrivateJson(path.join(dataDir, 'identity', 'clients.json'), clientRegistrations()),
        '--sign-in-file',
        await writePrivateJson(path.join(dataDir, 'identity', 'sign-in.json'), portalSignIn(portalUrl)),
      ],
      /identity provider ready on (\S+)/,
    );
    const identityUrl = `https://127.0.0.1:${portIn(/(.*)/, identity.readyLine?.[1] ?? '', 'identity')}`;
    const serviceIssuer = `${identityUrl}/${SERVICE_TENANT}/v2.0`;

    const serviceBus = await start(
      'servicebus',
      script('servicebus/cli.js'),
      [
        '--amqp-port',
        String(ports['amqp-port']),
        '--amqps-port',
        String(ports['amqps-port']),
        '--management-port',
        String(ports['management-port']),
        '--certs-dir',
        certsDir,
        '--config',
        await writePrivateJson(path.join(dataDir, 'servicebus', 'Config.json'), serviceBusConfig()),
        '--issuer',
        serviceIssuer,
        '--role-assignments',
        await writePrivateJson(
          path.join(dataDir, 'servicebus', 'role-assignments.json'),
          serviceBusRoleAssignments(),
        ),
      ],
      /connection\s+(Endpoint=sb:\S+)/,
    );
    const serviceBusConnection = serviceBus.readyLine?.[1] ?? '';
    const amqpPort = portIn(/AMQP 1\.0\s+(amqp:\/\/\S+)/, serviceBus.output(), 'servicebus');
    const amqpsPort = portIn(/AMQPS\s+amqps:\/\/\S+:(\d+)/, serviceBus.output(), 'servicebus');
    const managementPort = portIn(/management API\s+https:\/\/\S+:(\d+)/, serviceBus.output(), 'servicebus');

    const keyVault = await start(
      'keyvault',
      script('keyvault/cli.js'),
      [
        '--port',
        String(ports['keyvault-port']),
        '--data-dir',
        path.join(dataDir, 'keyvault'),
        '--certs-dir',
        certsDir,
        '--issuer',
        serviceIssuer,
        '--config',
        await writePrivateJson(path.join(dataDir, 'keyvault', 'config.json'), vaultConfig(serviceIssuer)),
      ],
      /Key Vault emulator ready on (\S+)/,
    );
    const vaultUri = `https://127.0.0.1:${portIn(/(.*)/, keyVault.readyLine?.[1] ?? '', 'keyvault')}`;

    // The endpoints of what was just started win over the settings file, as environment variables
    // win over local.settings.json in Core Tools.
    const wired: Record<string, string> = {
      AzureWebJobsStorage: azurite.connectionString,
      AUTH_ISSUER: `${identityUrl}/{tenantId}/v2.0`,
      ServiceBusConnection: serviceBusConnection,
      KEYVAULT_URI: vaultUri,
      KEYVAULT__tenantId: SERVICE_TENANT,
      KEYVAULT__clientId: DEV_IDENTITIES.functionsApp.clientId,
      KEYVAULT__clientSecret: DEV_IDENTITIES.functionsApp.clientSecret,
      KEYVAULT__authorityHost: identityUrl,
    };
    let hostPort = ports['host-port'];
    if (!emulatorsOnly) {
      const host = await start(
        'functions',
        script('functions-host/cli.js'),
        [
          '--app',
          root,
          '--port',
          String(hostPort),
          '--data-dir',
          path.join(dataDir, 'functions-host'),
          '--cors',
          portalUrl,
        ],
        /Functions host ready at (\S+)/i,
        { env: { ...settings.values, ...childEnv, ...wired }, timeoutMs: 60_000 },
      );
      hostPort = portIn(/(.*)/, host.readyLine?.[1] ?? '', 'functions');

      const agentConfig = await provisionDemoTenant({
        api: `http://127.0.0.1:${hostPort}/api`,
        identityUrl,
        identityDataDir: path.join(dataDir, 'identity'),
        vaultUri,
        serviceBusAmqpsEndpoint: `sb://127.0.0.1:${amqpsPort}/`,
        caPath: ca.caPath,
        dataDir,
        generatedUsers: demoUsers,
      });
      await start(
        'agent',
        path.join(root, 'dist', 'agent', 'cli.js'),
        ['--config', agentConfig],
        /"event":"started"/,
      );
    }

    const api = `http://127.0.0.1:${hostPort}/api`;
    // The portal's config.json: the same build points at Entra ID with another file (README: The portal).
    await writePrivateJson(portalConfigFile, {
      authority: `${identityUrl}/${DEMO_TENANT}`,
      clientId: DEVELOPMENT_PORTAL_APP_ID,
      apiScope: PORTAL_API_SCOPE,
      apiBaseUrl: api,
    });
    const developer = DEV_IDENTITIES.developer;
    const lines = [
      '',
      '  Password writeback: local stack',
      '  -------------------------------',
      `  Portal           ${portalUrl}   (sign in as a demo user; admin@${DEMO_TENANT}.test has Writeback.Admin)`,
      `                   your browser must trust the local CA for the sign-in page: ${ca.caPath}`,
      emulatorsOnly
        ? '  Functions host   not started (for `func start`, see the end of this banner)'
        : `  Functions host   ${api}   (GET /health, GET /openapi.json; settings from ${settings.file})`,
      `  Identity         ${identityUrl}   callers: AUTH_ISSUER=${wired.AUTH_ISSUER}`,
      `  Service Bus      amqp 127.0.0.1:${amqpPort}, amqps 127.0.0.1:${amqpsPort}, management https://127.0.0.1:${managementPort}   (in memory)`,
      `                   ServiceBusConnection=${serviceBusConnection}`,
      `  Key Vault        ${vaultUri}   (keys kept in ${path.join(dataDir, 'keyvault')})`,
      `  Azurite          blob ${azurite.blobPort}, queue ${azurite.queuePort}, table ${azurite.tablePort}   (data in ${path.join(dataDir, 'azurite')})`,
      `                   request counters ${azurite.statsUrl}`,
      `  Local CA         ${ca.caPath}   (export NODE_EXTRA_CA_CERTS=${ca.caPath} in any process that calls the emulators)`,
      ...(emulatorsOnly
        ? []
        : [
            `  Demo agent       tenant ${DEMO_TENANT}, in-memory directory (re-enabled at each start: new SAS keys and key versions)`,
            `                   Service Bus over AMQPS (TLS) on 127.0.0.1:${amqpsPort}, as production agents connect`,
            `                   users ${DEMO_USERS.map((u) => u.userPrincipalName).join(', ')}${demoUsers ? ` and user-1 … user-${demoUsers}` : ''}; password ${DEMO_USER_PASSWORD}`,
          ]),
      '',
      `  Service identities (tenant "${SERVICE_TENANT}", authority host ${identityUrl}, disableInstanceDiscovery):`,
      ...Object.values(DEV_IDENTITIES).map(
        (i) => `    ${i.clientId.padEnd(24)} secret ${i.clientSecret}   ${i.purpose}`,
      ),
      '',
      emulatorsOnly ? '  Try it (the curl lines once `func start` runs):' : '  Try it:',
      '    TOKEN=$(npm run -s token -- --tenant contoso --user alice@contoso.test)',
      `    curl -s ${api}/health`,
      `    curl -s -H "Authorization: Bearer $TOKEN" ${api}/tenants/contoso/me`,
      `    curl -s -H "Authorization: Bearer $TOKEN" ${api}/tenants/contoso/writeback/status`,
      '    curl -s -X POST -H "Authorization: Bearer $TOKEN" -H \'content-type: application/json\' \\',
      `      -d '{"newPassword":"New-Passw0rd-for-Alice"}' ${api}/tenants/contoso/me/password/reset`,
      `    Key Vault from code: new ClientSecretCredential("${SERVICE_TENANT}", "${developer.clientId}", "${developer.clientSecret}",`,
      `      { authorityHost: "${identityUrl}", disableInstanceDiscovery: true }), and KeyClient/CryptographyClient`,
      '      with { disableChallengeResourceVerification: true }',
      ...(emulatorsOnly
        ? [
            '',
            '  For `func start`: cp local.settings.sample.json local.settings.json (it matches this stack),',
            `  export NODE_EXTRA_CA_CERTS=${ca.caPath}, then \`func start\`.`,
          ]
        : []),
      '',
      '  Ctrl-C stops everything.',
      '',
    ];
    console.log(lines.join('\n'));
  } catch (error) {
    console.error(
      `The local stack failed to start: ${error instanceof Error ? error.message : String(error)}`,
    );
    await stopAll(1);
  }
}

void main();
