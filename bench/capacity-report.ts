/** The Markdown report of `npm run bench` (capacity.ts): every table of one run, and its capacity model. */
import type { AppLoadFigures } from './app-load.js';
import type { CallCounts } from './call-counts.js';
import type { CapacityAnswers, DeploymentShape, HeartbeatCosts, ResetCosts } from './capacity-model.js';
import type { PartFigure } from './irreducible-parts.js';
import type { LatencySummary } from './local-stack.js';
import type { LevelFigures } from './reset-load.js';

export interface LevelResult extends LevelFigures {
  /** Process → CPU ms per successful reset. */
  cpuMsPerReset: Record<string, number>;
  /** The stack's services together (not the supervisor, not the bench). */
  servicesCpuMsPerReset: number;
  /** The stack's services' CPU, in cores busy on average. */
  servicesCores: number;
  /** Per reset. */
  calls: CallCounts;
  sizes: Record<'request' | 'reply', { bodyBytes: number; messageBytes: number }>;
}

export interface TargetRow {
  target: string;
  measured: string;
  met: boolean;
}

export interface CapacityResults {
  startedAt: string;
  machine: { cpus: number; loadAverageStart: number; loadAverageEnd: number };
  settings: { levels: number[]; warmUpSeconds: number; seconds: number; users: number; samples: number };
  /** The level the targets and the model read (in-flight 32 when it ran). */
  referenceInFlight: number;
  levels: LevelResult[];
  oneAtATime: { changeMs: LatencySummary; unlockMs: LatencySummary };
  idle: {
    seconds: number;
    heartbeats: number;
    cpuMsPerSecond: Record<string, number>;
    perHeartbeat: CallCounts;
  };
  parts: PartFigure[];
  criticalPathMs: number;
  resetP50AtOneMs: number;
  appLoad: AppLoadFigures;
  connections: { agent: number; cloud: number };
  model: {
    reset: ResetCosts;
    heartbeat: HeartbeatCosts;
    shape: DeploymentShape;
    answers: CapacityAnswers;
    withSoftwareKeys: CapacityAnswers;
    tenantsPerVaultOnHeartbeats: number;
  };
  targets: TargetRow[];
}

export const PROCESS_ORDER = ['host', 'agent', 'servicebus', 'keyvault', 'azurite', 'identity'];

const fmt = (value: number, digits = 1) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits }) : '–';
const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
const table = (head: string[], rows: (string | number)[][]) =>
  [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');
const errorsText = (errors: Record<string, number>) =>
  Object.keys(errors).length
    ? Object.entries(errors)
        .map(([code, n]) => `${code}: ${n}`)
        .join(', ')
    : 'none';
const describe = (map: Record<string, number>, digits = 2) =>
  Object.entries(map)
    .filter(([, n]) => n !== 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, n]) => `${key} ${fmt(n, digits)}`)
    .join(', ') || 'none';
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

export function capacityReport(results: CapacityResults, chartFile: string): string {
  const { levels, model } = results;
  const reference = levels.find((l) => l.inFlight === results.referenceInFlight) ?? levels.at(-1)!;
  const processes = [
    ...PROCESS_ORDER.filter((name) => levels.some((l) => name in l.cpuMsPerReset)),
    ...Object.keys(levels[0]?.cpuMsPerReset ?? {}).filter(
      (n) => !PROCESS_ORDER.includes(n) && n !== 'supervisor' && n !== 'bench',
    ),
  ];
  const lines: string[] = [];
  // Markdown needs a blank line around headings, paragraphs and tables; list items may share one.
  const add = (...blocks: string[]) => {
    for (const block of blocks) lines.push(block, ...(block.startsWith('- ') ? [] : ['']));
    if (lines.at(-1) !== '') lines.push('');
  };

  add(
    '# Capacity report',
    `Run ${results.startedAt}, \`npm run bench\` on \`npm start\`'s stack; ${results.machine.cpus} CPUs, load average ` +
      `${fmt(results.machine.loadAverageStart, 2)} at the start and ${fmt(results.machine.loadAverageEnd, 2)} at the end ` +
      '(other work on the machine slows every figure).',
    `Each level: ${results.settings.warmUpSeconds} s of warm-up, then ${results.settings.seconds} s measured, ` +
      `closed loop, ${results.settings.users} users (none in two requests at once). Targets and the model read the ` +
      `level of ${results.referenceInFlight} in flight.`,
  );

  add(
    '## Targets',
    table(
      ['Target', 'Measured', 'Met'],
      results.targets.map((t) => [t.target, t.measured, t.met ? 'met' : '**not met**']),
    ),
  );

  add(
    '## Throughput and latency',
    table(
      ['In flight', 'Resets/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'Resets', 'Errors'],
      levels.map((l) => [
        l.inFlight,
        fmt(l.perSecond),
        fmt(l.latencyMs.p50),
        fmt(l.latencyMs.p95),
        fmt(l.latencyMs.p99),
        fmt(l.latencyMs.max),
        l.resets,
        errorsText(l.errors),
      ]),
    ),
    `![Latency against throughput](${chartFile})`,
    `One at a time (before the levels): change p50 ${fmt(results.oneAtATime.changeMs.p50)} ms ` +
      `(p95 ${fmt(results.oneAtATime.changeMs.p95)}, n ${results.oneAtATime.changeMs.n}), unlock p50 ` +
      `${fmt(results.oneAtATime.unlockMs.p50)} ms (p95 ${fmt(results.oneAtATime.unlockMs.p95)}, n ${results.oneAtATime.unlockMs.n}).`,
  );

  add(
    '## CPU per reset',
    'Milliseconds of CPU (user + system, from `/proc/<pid>/stat`, each process with its own children) per successful ' +
      'reset. "Services" adds the six services; the supervisor (`npm start`, which relays every log line) and the ' +
      'bench (the load generator) are shown apart.',
    table(
      ['Process', ...levels.map((l) => `${l.inFlight} in flight`)],
      [
        ...processes.map((name) => [name, ...levels.map((l) => fmt(l.cpuMsPerReset[name] ?? NaN, 2))]),
        ['**services**', ...levels.map((l) => `**${fmt(l.servicesCpuMsPerReset, 2)}**`)],
        ['supervisor', ...levels.map((l) => fmt(l.cpuMsPerReset.supervisor ?? NaN, 2))],
        ['bench', ...levels.map((l) => fmt(l.cpuMsPerReset.bench ?? NaN, 2))],
        ['services, cores busy', ...levels.map((l) => fmt(l.servicesCores, 2))],
      ],
    ),
    `Idle (${fmt(results.idle.seconds)} s with no resets), CPU ms per second: ${describe(results.idle.cpuMsPerSecond, 1)}.`,
  );

  add(
    '## Calls per reset',
    'Counted by the emulators and Azurite themselves (`/.emulator/stats`), divided by the successful resets of the ' +
      'level. Cloud: the function app (Service Bus rule RootManageSharedAccessKey, Key Vault principal of ' +
      '`writeback-functions`, the table SDK); agent: its queue rules and the principal of `writeback-agent-contoso`. Service Bus data ' +
      'operations are sends, deliveries, settlements and `$management` requests.',
    table(
      [
        'In flight',
        'Table requests',
        'Table entities',
        'Key Vault cloud',
        'Key Vault agent',
        'SB ops cloud',
        'SB ops agent',
        'SB management',
      ],
      levels.map((l) => {
        const sbOps = (side: 'cloud' | 'agent') =>
          Object.entries(l.calls.serviceBus[side])
            .filter(([k]) => /^(sends|deliveries|settle:|management:)/.test(k))
            .reduce((sum, [, n]) => sum + n, 0);
        const kv = (side: 'cloud' | 'agent') =>
          Object.values(l.calls.keyVault[side]).reduce((a, b) => a + b, 0);
        return [
          l.inFlight,
          fmt(l.calls.tableRequests, 2),
          fmt(l.calls.tableEntities, 2),
          fmt(kv('cloud'), 2),
          fmt(kv('agent'), 2),
          fmt(sbOps('cloud'), 2),
          fmt(sbOps('agent'), 2),
          fmt(l.calls.serviceBusManagementOperations, 2),
        ];
      }),
    ),
    `In detail, at ${reference.inFlight} in flight:`,
    `- Table storage (the app): ${describe(reference.calls.table)}.`,
    `- Key Vault, cloud: ${describe(reference.calls.keyVault.cloud)}; agent: ${describe(reference.calls.keyVault.agent)}; ` +
      `without a token (challenges): ${describe(reference.calls.keyVault.anonymous)}.`,
    `- Service Bus, cloud: ${describe(reference.calls.serviceBus.cloud)}.`,
    `- Service Bus, agent: ${describe(reference.calls.serviceBus.agent)}.`,
  );

  add(
    '## Sizes on the wire',
    'Mean bytes per message sent, from the Service Bus emulator: the body, and the whole encoded AMQP message ' +
      '(header, properties, application properties, body).',
    table(
      ['In flight', 'Request body', 'Request message', 'Reply body', 'Reply message'],
      levels.map((l) => [
        l.inFlight,
        fmt(l.sizes.request.bodyBytes, 0),
        fmt(l.sizes.request.messageBytes, 0),
        fmt(l.sizes.reply.bodyBytes, 0),
        fmt(l.sizes.reply.messageBytes, 0),
      ]),
    ),
  );

  add(
    '## The irreducible parts',
    'Each measured alone on the same stack, one call at a time, after the levels. The critical path of a reset: the ' +
      "rate limits' query (a read) and the transaction that records the operation (a write), sealing (two " +
      'RSA-OAEP-256 encryptions), the request to the agent (a Service Bus round trip), unwrapKey, decrypt, sign, the ' +
      'reply back (a round trip; forwarding happens inside the broker), ES256 verify, the operation read and the ' +
      "transaction that ends it. The caller's HTTP hop, token validation, the directory and our own code are what " +
      'the ratio measures.',
    table(
      ['Part', 'On the path', 'p50 ms', 'p95 ms', 'Samples', 'Path ms'],
      [
        ...results.parts.map((p) => [
          p.part,
          `× ${p.perReset}`,
          fmt(p.p50Ms, 3),
          fmt(p.p95Ms, 3),
          p.samples,
          fmt(p.p50Ms * p.perReset, 2),
        ]),
        ['**Sum**', '', '', '', '', `**${fmt(results.criticalPathMs, 2)}**`],
      ],
    ),
    `Reset p50 at 1 in flight: ${fmt(results.resetP50AtOneMs)} ms, ` +
      `${fmt(results.resetP50AtOneMs / results.criticalPathMs, 2)} × the sum.`,
  );

  add(
    '## App load',
    'From spawning a Functions host process until it logs that every function is registered (`Functions:`), on the ' +
      "stack's settings: the local counterpart of a cold start. Ready: until its ready line is read.",
    table(
      ['Run', 'Registered ms', 'Ready ms'],
      results.appLoad.registeredMs.map((ms, i) => [
        i + 1,
        fmt(ms, 0),
        fmt(results.appLoad.readyMs[i] ?? NaN, 0),
      ]),
    ),
    `Median: ${fmt(median(results.appLoad.registeredMs), 0)} ms registered, ${fmt(median(results.appLoad.readyMs), 0)} ms ready.`,
  );

  const hb = results.idle.perHeartbeat;
  add(
    '## Heartbeats',
    `${results.idle.heartbeats} heartbeat(s) in ${fmt(results.idle.seconds)} s with no resets. Per heartbeat: Key Vault ` +
      `${describe({ ...hb.keyVault.agent, ...hb.keyVault.cloud })}; Service Bus data operations ${fmt(hb.serviceBusDataOperations, 2)}; ` +
      `table requests ${fmt(hb.tableRequests, 2)} (${describe(hb.table)}; the timers' reads in that time count here too).`,
    `AMQP connections held: the agent ${results.connections.agent}, the function app ${results.connections.cloud}.`,
  );

  const { shape, answers } = model;
  add(
    '## Capacity model',
    "`bench/capacity-model.ts`, from the calls counted above and Azure's published limits ([docs/capacity.md]" +
      '(../../docs/capacity.md) gives the sources and the assumptions).',
    'Inputs, per reset (measured at ' +
      `${reference.inFlight} in flight): Key Vault ${fmt(model.reset.keyVaultOperations, 2)}, Service Bus data operations ` +
      `${fmt(model.reset.serviceBusDataOperations, 2)} and management ${fmt(model.reset.serviceBusManagementOperations, 2)}, table ` +
      `requests ${fmt(model.reset.tableTransactions, 2)} and entities ${fmt(model.reset.tableEntities, 2)}, host CPU ` +
      `${fmt(model.reset.hostCpuMs, 2)} ms, an HTTP slot held ${fmt(model.reset.latencyMs)} ms (p50 at 1 in flight); ` +
      `per heartbeat: Key Vault ${fmt(model.heartbeat.keyVaultOperations, 2)}, Service Bus ${fmt(model.heartbeat.serviceBusDataOperations, 2)}, ` +
      `tables ${fmt(model.heartbeat.tableTransactions, 2)}.`,
    `Deployment (the templates' defaults): ${shape.keyProtection} keys, Service Bus ${shape.serviceBusTier}, ` +
      `${shape.maxInstances} instances of ${shape.vCpusPerInstance} vCPU with ${shape.httpConcurrencyPerInstance} HTTP slots, ` +
      `heartbeats every ${shape.heartbeatIntervalSeconds} s from ${fmt(shape.tenants, 0)} tenants; a tenant's peak ` +
      `assumed ${shape.peakResetsPerTenantPerSecond} resets/s.`,
    table(
      ['Limit', 'Capacity', 'Resets/s it allows', 'When reached, shard'],
      answers.limits.map((l) => [l.limit, l.capacity, fmt(l.resetsPerSecond), l.shard]),
    ),
    `- **One deployment sustains ${fmt(answers.sustainedResetsPerSecond)} resets/s**; the first limit to saturate is ` +
      `${answers.firstLimit.limit}: ${answers.firstLimit.shard}. With software keys: ` +
      `${fmt(model.withSoftwareKeys.sustainedResetsPerSecond)} resets/s (${model.withSoftwareKeys.firstLimit.limit}).`,
    `- One tenant: ${fmt(answers.resetsPerSecondPerTenant)} resets/s (its operations share one partition: 2,000 ` +
      'entities/s).',
    `- **Tenants per namespace: ${fmt(answers.tenantsPerNamespace.count, 0)}**, limited by ` +
      `${answers.tenantsPerNamespace.limitedBy} (${describe(answers.tenantsPerNamespace.byLimit, 0)}).`,
    `- **Tenants per vault: ${fmt(answers.tenantsPerVault.count, 0)}**, limited by ${answers.tenantsPerVault.limitedBy} ` +
      `(${describe(answers.tenantsPerVault.byLimit, 0)}); on heartbeats alone ${fmt(model.tenantsPerVaultOnHeartbeats, 0)}; ` +
      `with software keys ${fmt(model.withSoftwareKeys.tenantsPerVault.count, 0)}.`,
  );
  return lines.join('\n');
}
