/**
 * Benchmark of the Service Bus emulator alone (`npm run bench -- servicebus`; not in the default set,
 * whose report measures the round trip on the whole stack): the broker runs in its own process (the
 * CLI), the official SDK in this one; 1 KB messages.
 *
 *   node dist/bench/servicebus.js [--latency N] [--throughput N] [--concurrency C] [--long N]
 *
 * - latency: one message at a time, send → received by a peek-lock subscriber (p50/p99, ms)
 * - throughput: N messages sent by C concurrent senders while a subscriber with C concurrent calls
 *   receives and completes them (messages/s from first send to last completion)
 * - long: N messages through the broker (batches in, concurrent receive+complete), sampling the
 *   broker's resident memory; `--long 1000000` is the full run
 *
 * Prints one JSON summary line last.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { roundTripsMs } from './servicebus-round-trip.js';

const BODY = Buffer.alloc(1024, 0x61);

interface Broker {
  child: ChildProcess;
  connectionString: string;
  caPem: string;
  dir: string;
}

async function startBroker(): Promise<Broker> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-bench-'));
  const cli = fileURLToPath(new URL('../local/servicebus/cli.js', import.meta.url));
  const child = fork(cli, ['--amqp-port', '0', '--management-port', '0', '--certs-dir', join(dir, 'certs')], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ connectionString: string }>((resolve, reject) => {
    child.once('message', (message) => resolve(message as { connectionString: string }));
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
  });
  const caPem = await readFile(join(dir, 'certs', 'ca.pem'), 'utf8');
  return { child, connectionString: ready.connectionString, caPem, dir };
}

interface MemorySample {
  rssMb: number;
  heapUsedMb: number;
  arrayBuffersMb: number;
}

/** The broker's memory, asked over IPC (the CLI answers `{ type: 'memory' }`). */
async function brokerMemory(child: ChildProcess): Promise<MemorySample> {
  const usage = await new Promise<NodeJS.MemoryUsage>((resolve) => {
    const onMessage = (message: unknown) => {
      const reply = message as { type?: string; usage?: NodeJS.MemoryUsage };
      if (reply.type !== 'memory' || !reply.usage) return;
      child.off('message', onMessage);
      resolve(reply.usage);
    };
    child.on('message', onMessage);
    child.send({ type: 'memory' });
  });
  const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
  return { rssMb: mb(usage.rss), heapUsedMb: mb(usage.heapUsed), arrayBuffersMb: mb(usage.arrayBuffers) };
}

/** The broker's CPU time so far (user + system, µs), asked over IPC (the CLI answers `{ type: 'cpu' }`). */
async function brokerCpuMicros(child: ChildProcess): Promise<number> {
  const usage = await new Promise<NodeJS.CpuUsage>((resolve) => {
    const onMessage = (message: unknown) => {
      const reply = message as { type?: string; usage?: NodeJS.CpuUsage };
      if (reply.type !== 'cpu' || !reply.usage) return;
      child.off('message', onMessage);
      resolve(reply.usage);
    };
    child.on('message', onMessage);
    child.send({ type: 'cpu' });
  });
  return usage.user + usage.system;
}

const clientCpuMicros = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

async function latency(client: ServiceBusClient, queue: string, count: number) {
  const samples = (await roundTripsMs(client, queue, BODY, count)).sort((a, b) => a - b);
  return {
    p50Ms: round(percentile(samples, 50), 3),
    p99Ms: round(percentile(samples, 99), 3),
    samples: samples.length,
  };
}

/** C senders send `count` messages one by one while a subscriber receives and completes them. */
async function throughput(
  client: ServiceBusClient,
  queue: string,
  count: number,
  concurrency: number,
  broker: ChildProcess,
) {
  const senders = Array.from({ length: Math.min(concurrency, 10) }, () => client.createSender(queue));
  // The bodies are binary, as the pipeline's are: the SDK need not try them as JSON.
  const receiver = client.createReceiver(queue, { skipParsingBodyAsJson: true });
  let completed = 0;
  let done: (() => void) | undefined;
  const allDone = new Promise<void>((resolve) => (done = resolve));
  const brokerCpuBefore = await brokerCpuMicros(broker);
  const clientCpuBefore = clientCpuMicros();
  const start = Date.now();
  const subscription = receiver.subscribe(
    {
      async processMessage() {
        if (++completed === count) done?.();
      },
      async processError(args) {
        console.error('throughput receiver error:', args.error);
      },
    },
    { autoCompleteMessages: true, maxConcurrentCalls: concurrency },
  );
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      const sender = senders[worker % senders.length]!;
      while (next < count) {
        next++;
        await sender.sendMessages({ body: BODY });
      }
    }),
  );
  const sentMs = Date.now() - start;
  await allDone;
  const elapsedMs = Date.now() - start;
  const clientCpu = clientCpuMicros() - clientCpuBefore;
  const brokerCpu = (await brokerCpuMicros(broker)) - brokerCpuBefore;
  await subscription.close();
  await receiver.close();
  await Promise.all(senders.map((s) => s.close()));
  return {
    messages: count,
    concurrency,
    sentPerSecond: Math.round((count / sentMs) * 1000),
    sentReceivedCompletedPerSecond: Math.round((count / elapsedMs) * 1000),
    // CPU time per message of each process (µs): less sensitive to other load than the rate.
    clientCpuMicrosPerMessage: Math.round(clientCpu / count),
    brokerCpuMicrosPerMessage: Math.round(brokerCpu / count),
  };
}

/** `count` messages through the broker in batches of 100, sampling its memory. */
async function longRun(client: ServiceBusClient, queue: string, count: number, broker: ChildProcess) {
  const sender = client.createSender(queue);
  // The bodies are binary, as the pipeline's are: the SDK need not try them as JSON.
  const receiver = client.createReceiver(queue, { skipParsingBodyAsJson: true });
  const samples: Array<{ messages: number } & MemorySample> = [
    { messages: 0, ...(await brokerMemory(broker)) },
  ];
  const step = Math.max(count / 10, 1000);
  let completed = 0;
  let nextSample = step;
  let done: (() => void) | undefined;
  const allDone = new Promise<void>((resolve) => (done = resolve));
  const subscription = receiver.subscribe(
    {
      async processMessage() {
        if (++completed === count) done?.();
      },
      async processError(args) {
        console.error('long-run receiver error:', args.error);
      },
    },
    { autoCompleteMessages: true, maxConcurrentCalls: 100 },
  );
  const start = Date.now();
  let sent = 0;
  while (sent < count) {
    // Stay a few thousand messages ahead of the receiver: this measures the broker, not a backlog.
    while (sent - completed > 5000) await new Promise((resolve) => setTimeout(resolve, 5));
    const batch = await sender.createMessageBatch();
    while (sent < count && batch.tryAddMessage({ body: BODY }) && batch.count < 100) sent++;
    await sender.sendMessages(batch);
    if (sent >= nextSample) {
      samples.push({ messages: sent, ...(await brokerMemory(broker)) });
      nextSample += step;
    }
  }
  await allDone;
  const elapsedMs = Date.now() - start;
  samples.push({ messages: count, ...(await brokerMemory(broker)) });
  await subscription.close();
  await receiver.close();
  await sender.close();
  return {
    messages: count,
    messagesPerSecond: Math.round((count / elapsedMs) * 1000),
    brokerMemory: samples,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      latency: { type: 'string', default: '2000' },
      throughput: { type: 'string', default: '30000' },
      concurrency: { type: 'string', default: '50' },
      long: { type: 'string', default: '100000' },
    },
  });
  const broker = await startBroker();
  const admin = new ServiceBusAdministrationClient(broker.connectionString, {
    tlsOptions: { ca: broker.caPem },
  });
  const client = new ServiceBusClient(broker.connectionString);
  try {
    for (const name of ['latency', 'throughput', 'long'])
      await admin.createQueue(name, { lockDuration: 'PT1M' });
    const results = {
      benchmark: 'servicebus-emulator',
      bodyBytes: BODY.length,
      latency: await latency(client, 'latency', Number(values.latency)),
      throughput: await throughput(
        client,
        'throughput',
        Number(values.throughput),
        Number(values.concurrency),
        broker.child,
      ),
      longRun: await longRun(client, 'long', Number(values.long), broker.child),
    };
    console.log(JSON.stringify(results));
  } finally {
    await client.close();
    broker.child.kill('SIGTERM');
    await new Promise((resolve) => broker.child.once('exit', resolve));
    await rm(broker.dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
