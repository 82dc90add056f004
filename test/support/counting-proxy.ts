/**
 * A plain HTTP forwarder that counts the requests passing through it, put between the app and
 * Azurite's table endpoint to measure what an operation costs in table calls.
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { listenOn } from '../../local/process/ports.js';

export interface CountingProxy {
  url: string;
  /** `METHOD /path` (query left out) of each request since the last reset(), in order. */
  calls(): string[];
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  let calls: string[] = [];
  const server = createServer((incoming: IncomingMessage, outgoing) => {
    calls.push(`${incoming.method ?? '?'} ${(incoming.url ?? '').split('?')[0] ?? ''}`);
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host: upstream.host },
      },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forward.on('error', () => outgoing.destroy());
    incoming.pipe(forward);
  });
  const port = await listenOn(server, 0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}`,
    calls: () => [...calls],
    reset: () => {
      calls = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
