/**
 * `node dist/local/servicebus/cli.js [--amqp-port N] [--amqps-port N] [--management-port N] [--config file]
 * [--certs-dir D] [--host H] [--issuer URL] [--role-assignments file.json]`: run the Service Bus emulator until SIGINT/SIGTERM or until the
 * parent process goes away.
 */
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { closeOnStop } from '../process/child.js';
import { startServiceBusEmulator } from './index.js';

function port(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) {
    console.error(`--${name} must be a port number (0-65535), got "${value}"`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'amqp-port': { type: 'string' },
      'amqps-port': { type: 'string' },
      'management-port': { type: 'string' },
      config: { type: 'string' },
      'certs-dir': { type: 'string' },
      host: { type: 'string' },
      issuer: { type: 'string' },
      'role-assignments': { type: 'string' },
    },
    strict: true,
  });
  const certsDir = resolve(values['certs-dir'] ?? '.local/certs');
  const emulator = await startServiceBusEmulator({
    amqpPort: port(values['amqp-port'], 'amqp-port', 5672),
    ...(values['amqps-port'] !== undefined
      ? { amqpsPort: port(values['amqps-port'], 'amqps-port', 5671) }
      : {}),
    managementPort: port(values['management-port'], 'management-port', 5443),
    host: values.host ?? '127.0.0.1',
    certsDir,
    configFile: values.config ? resolve(values.config) : undefined,
    ...(values.issuer ? { issuer: values.issuer } : {}),
    // A JSON array of { principalId, role, scope }: Entra ID identities' Service Bus data roles.
    ...(values['role-assignments']
      ? { roleAssignments: JSON.parse(await readFile(resolve(values['role-assignments']), 'utf8')) as [] }
      : {}),
  });
  const lines = [
    'Service Bus emulator',
    `  AMQP 1.0        amqp://${emulator.host}:${emulator.amqpPort} (plain TCP, UseDevelopmentEmulator=true)`,
    `  AMQPS           amqps://${emulator.amqpsNamespace} (TLS, as Azure; no UseDevelopmentEmulator)`,
    `  management API  https://${emulator.managementNamespace} (also TLS on both AMQP ports)`,
    `  namespace       ${emulator.namespaceName}`,
    `  Entra ID        ${emulator.issuer ? `tokens of ${emulator.issuer} (jwt on $cbs, Bearer on management)` : 'not accepted (no --issuer): SAS only'}`,
    `  local CA        ${emulator.caPath}  (callers set NODE_EXTRA_CA_CERTS to it)`,
    `  connection      ${emulator.connectionString}`,
    `  AMQPS connection ${emulator.amqpsConnectionString}`,
    '  messages are kept in memory only: a restart loses them',
    ...emulator.warnings.map((warning) => `  warning: ${warning}`),
  ];
  console.log(lines.join('\n'));
  process.send?.({
    type: 'ready',
    ready: true,
    connectionString: emulator.connectionString,
    amqpPort: emulator.amqpPort,
    amqpsPort: emulator.amqpsPort,
    amqpsConnectionString: emulator.amqpsConnectionString,
    managementPort: emulator.managementPort,
  });

  closeOnStop('servicebus', () => emulator.close());
  // The benchmark asks for the broker's memory and CPU time over IPC.
  process.on('message', (message: unknown) => {
    const type = (message as { type?: string } | null)?.type;
    if (type === 'memory') process.send?.({ type: 'memory', usage: process.memoryUsage() });
    if (type === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage() });
  });
}

main().catch((error: unknown) => {
  console.error(
    `Service Bus emulator failed to start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
