/**
 * Counts the requests Azurite's own HTTP servers receive, for the benchmarks, from inside Azurite's
 * process (cli.ts runs Azurite in this process): Node's `http.server.request.start` diagnostics channel
 * sees every request of every server here, before Azurite's handler, and costs nothing when unused. So
 * no proxy sits in front of Azurite (no extra hop, no extra process to charge), and no debug log has to
 * be written and parsed (Azurite's would be larger than the requests it logs).
 *
 * Counted by the server's port (blob, queue, table), the caller (the first product of the User-Agent:
 * `azsdk-js-data-tables` for the app's SDK, or a prefix the caller set) and the table operation. A batch
 * also counts its operations (`batchOperations`, read from the changeset as it streams past), and a
 * query the entities it returned (`queryEntities`): the partition's target is in entities per second.
 *
 * Served at `GET /.emulator/stats` on a loopback port of its own, printed as
 * "Azurite request counters at http://127.0.0.1:<port>/.emulator/stats"; counts only, no data.
 */
import { subscribe } from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendJson } from '../http/messages.js';
import { listenOn } from '../process/ports.js';

export interface AzuriteCountsSnapshot {
  startedAt: string;
  /** Server port → caller → counter (operation, `batchOperations`, `queryEntities`, `status:NNN`) → value. */
  byPort: Record<string, Record<string, Record<string, number>>>;
}

/** A changeset's operations: one request line each (`POST http://…/table HTTP/1.1`). */
const BATCH_OPERATION = /^(?:GET|POST|PUT|MERGE|PATCH|DELETE) \S+ HTTP\/1\.1\r?$/gm;
/** An entity in a JSON answer: its RowKey (a quote inside a value is escaped, so this cannot match in one). */
const ENTITY_IN_ANSWER = /"RowKey":/g;

/** The table operation of a request (the Table service's REST paths, after the account segment). */
export function tableOperationOf(method: string, path: string): string {
  let resource: string;
  try {
    resource = decodeURIComponent(path.split('?')[0] ?? '').split('/')[2] ?? '';
  } catch {
    return 'unreadablePath';
  }
  if (resource === '$batch') return 'batch';
  if (/^Tables(\(.*\))?$/i.test(resource)) {
    return { GET: 'queryTables', POST: 'createTable', DELETE: 'deleteTable' }[method] ?? `tables:${method}`;
  }
  if (/\(PartitionKey=.*RowKey=.*\)$/.test(resource)) {
    return (
      { GET: 'pointRead', PUT: 'replace', MERGE: 'merge', PATCH: 'merge', DELETE: 'delete' }[method] ??
      `entity:${method}`
    );
  }
  return { GET: 'query', POST: 'insert' }[method] ?? `entities:${method}`;
}

/** The first product token of a User-Agent header, without its version (`azsdk-js-data-tables`). */
export function callerOf(userAgent: string | undefined): string {
  return (userAgent ?? '').trim().split(/\s+/)[0]?.split('/')[0] || 'unknown';
}

/** Starts counting, and serving the counts; resolves with their URL. */
export async function startRequestCounter(): Promise<{ url: string }> {
  const startedAt = new Date().toISOString();
  const byPort: AzuriteCountsSnapshot['byPort'] = {};
  const count = (port: string, caller: string, counter: string, amount = 1) => {
    const counters = ((byPort[port] ??= {})[caller] ??= {});
    counters[counter] = (counters[counter] ?? 0) + amount;
  };

  const own = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/.emulator/stats') {
      sendJson(response, 200, { startedAt, byPort } satisfies AzuriteCountsSnapshot, {
        'Cache-Control': 'no-store',
      });
    } else sendJson(response, 404, { error: 'GET /.emulator/stats is the only route' });
  });
  subscribe('http.server.request.start', (message) => {
    const { request, response, server } = message as {
      request: IncomingMessage;
      response: ServerResponse;
      server: Server;
    };
    if (server === own) return;
    const port = String((server.address() as AddressInfo | null)?.port ?? 0);
    const caller = callerOf(request.headers['user-agent']);
    const operation = tableOperationOf(request.method ?? 'GET', request.url ?? '/');
    count(port, caller, operation);
    if (operation === 'batch')
      tapBody(request, (text) => count(port, caller, 'batchOperations', matches(text, BATCH_OPERATION)));
    if (operation === 'query')
      tapAnswer(response, (text) => count(port, caller, 'queryEntities', matches(text, ENTITY_IN_ANSWER)));
    response.once('finish', () => {
      if (response.statusCode >= 400) count(port, caller, `status:${response.statusCode}`);
    });
  });

  const port = await listenOn(own, 0, '127.0.0.1');
  // Azurite ends its process by closing its own servers: this one must not hold it open.
  own.unref();
  return { url: `http://127.0.0.1:${port}/.emulator/stats` };
}

function matches(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}

/**
 * The request's body as Azurite reads it: 'data' events are observed, never asked for, so the stream
 * flows exactly as it would without the counter.
 */
function tapBody(request: IncomingMessage, done: (text: string) => void): void {
  const chunks: Buffer[] = [];
  const emit = request.emit.bind(request);
  request.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (event === 'data') chunks.push(Buffer.from(args[0] as Buffer));
    if (event === 'end') done(Buffer.concat(chunks).toString('utf8'));
    return emit(event, ...args);
  }) as typeof request.emit;
}

/**
 * The answer's body as Azurite writes it (a copy of each chunk; what is sent is unchanged), once it has
 * all gone out. Azurite may call end() more than once; only the first counts.
 */
function tapAnswer(response: ServerResponse, done: (text: string) => void): void {
  const chunks: Buffer[] = [];
  let ended = false;
  const keep = (chunk: unknown) => {
    if (!ended && (typeof chunk === 'string' || chunk instanceof Uint8Array)) chunks.push(Buffer.from(chunk));
  };
  const write = response.write.bind(response);
  const end = response.end.bind(response);
  response.write = ((chunk: unknown, ...rest: unknown[]) => {
    keep(chunk);
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof response.write;
  response.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'function') keep(chunk);
    ended = true;
    return (end as (...args: unknown[]) => ServerResponse)(chunk, ...rest);
  }) as typeof response.end;
  response.once('finish', () => done(Buffer.concat(chunks).toString('utf8')));
}
