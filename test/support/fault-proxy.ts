/**
 * A TCP forwarder put between the app (or the agent) and one dependency, to inject the two faults a
 * dependency shows from the network:
 * - `freeze()`: the dependency hangs, as a process under SIGSTOP does. Connections stay open and new
 *   ones are accepted (the kernel's backlog does that for a stopped process), but no byte moves in
 *   either direction until `resume()`, when everything held is delivered in order.
 * - `stop()`: the dependency is gone, as a crashed or stopped process is. Every connection is reset
 *   and the port refuses new ones (ECONNREFUSED) until `resume()` listens on the same port again.
 *
 * Byte-level, so it carries HTTP, HTTPS and AMQP alike, and the dependency keeps its state across a
 * fault, as Azure's services do across their own restarts (our emulators keep theirs in memory).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { listenOn } from '../../local/process/ports.js';

export type FaultState = 'up' | 'frozen' | 'stopped';

export interface FaultProxy {
  /** Where clients connect instead of the dependency: 127.0.0.1:`port`. */
  readonly port: number;
  readonly state: FaultState;
  /** Connections currently open through the proxy. */
  readonly connections: number;
  freeze(): void;
  stop(): Promise<void>;
  /** Ends either fault: held bytes flow again, or the port listens again. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

export async function startFaultProxy(target: { host?: string; port: number }): Promise<FaultProxy> {
  const host = target.host ?? '127.0.0.1';
  const pairs = new Set<Pair>();
  let state: FaultState = 'up';
  let server: Server | undefined;

  const hold = (pair: Pair): void => {
    pair.client.pause();
    pair.upstream.pause();
  };
  const flow = (pair: Pair): void => {
    pair.client.resume();
    pair.upstream.resume();
  };

  const accept = (client: Socket): void => {
    const upstream = createConnection({ host, port: target.port });
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // pipe() resumes a paused source, so forward by hand: a frozen pair stays paused.
    client.on('data', (chunk: Buffer) => {
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!client.write(chunk)) upstream.pause();
    });
    upstream.on('drain', () => state === 'up' && client.resume());
    client.on('drain', () => state === 'up' && upstream.resume());
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    if (state === 'frozen') hold(pair);
  };

  const listen = async (port: number): Promise<number> => {
    server = createServer({ pauseOnConnect: false }, accept);
    return listenOn(server, port, '127.0.0.1');
  };
  const unlisten = (): Promise<void> =>
    new Promise((resolve) => {
      const closing = server;
      server = undefined;
      if (!closing) return resolve();
      closing.close(() => resolve());
    });
  const resetAll = (): void => {
    for (const pair of pairs) {
      // A reset while the socket's own shutdown is pending (the dependency ended it) leaves a handle
      // that Node cannot close: the process then spins at exit. Such a socket is closing anyway.
      if (pair.client.writableEnded) pair.client.destroy();
      else pair.client.resetAndDestroy();
      pair.upstream.destroy();
    }
    pairs.clear();
  };

  const port = await listen(0);
  return {
    port,
    get state() {
      return state;
    },
    get connections() {
      return pairs.size;
    },
    freeze() {
      if (state !== 'up') throw new Error(`cannot freeze a proxy that is ${state}`);
      state = 'frozen';
      for (const pair of pairs) hold(pair);
    },
    async stop() {
      if (state === 'stopped') return;
      state = 'stopped';
      const closing = unlisten();
      resetAll();
      await closing;
    },
    async resume() {
      if (state === 'stopped') await listen(port);
      else for (const pair of pairs) flow(pair);
      state = 'up';
    },
    async close() {
      state = 'stopped';
      const closing = unlisten();
      resetAll();
      await closing;
    },
  };
}
