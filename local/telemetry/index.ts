/**
 * A local Application Insights ingestion endpoint that keeps what it is sent, for tests (and for
 * `npm start`, to see what the app would send). It speaks the breeze protocol the exporter of
 * `applicationinsights` 3.x uses: `POST /v2.1/track` (also `/v2/track`) with a JSON array of envelopes,
 * possibly gzip-compressed or newline-delimited, answered with `{ itemsReceived, itemsAccepted, errors }`.
 * Live Metrics (QuickPulse) calls are answered "not subscribed"; shared/telemetry never makes them, and
 * hits() shows every call so tests can check that.
 *
 * HTTPS only: the exporter rewrites an `http://` IngestionEndpoint to `https://`. The certificate is
 * issued by the local CA (local/certs); callers trust it through NODE_EXTRA_CA_CERTS = `ca.caPath` or,
 * in-process, createTelemetry's `trustedCaPem`.
 *
 * Hand-written: there is no packaged breeze receiver, and the protocol is one POST route.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync, inflateSync } from 'node:zlib';
import { ensureLocalCa, issueServerCertificate, type LocalCa } from '../certs/index.js';
import { readBody, sendJson } from '../http/messages.js';
import { listenOn } from '../process/ports.js';

/** One telemetry envelope as the SDK sent it. */
export interface CapturedItem {
  /** `Microsoft.ApplicationInsights.Request`, `.RemoteDependency`, `.Event`, `.Metric`, … */
  name: string;
  time: string;
  iKey: string;
  tags: Record<string, string>;
  data: {
    /** `RequestData`, `RemoteDependencyData`, `EventData`, `MetricData`, … */
    baseType: string;
    baseData: {
      name?: string;
      properties?: Record<string, string>;
      measurements?: Record<string, number>;
      metrics?: { name: string; value: number; count?: number; min?: number; max?: number }[];
      [field: string]: unknown;
    };
  };
}

/** A call the endpoint received, whatever it was. */
export interface CaptureHit {
  method: string;
  /** Path without the query. */
  path: string;
}

export interface TelemetryCaptureOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Where the local CA lives (e.g. `.local/certs`); default a temporary folder removed by close(). */
  certsDir?: string;
  /** Default a random GUID. */
  instrumentationKey?: string;
}

export interface TelemetryCapture {
  /** `https://127.0.0.1:<port>` */
  url: string;
  /** InstrumentationKey, IngestionEndpoint and LiveEndpoint, all pointing here. */
  connectionString: string;
  /** The CA that issued the endpoint's certificate. */
  ca: Pick<LocalCa, 'caPem' | 'caPath'>;
  /** Every envelope received so far, in order. */
  items(): CapturedItem[];
  /** Every track body, decompressed, exactly as received (for searching for what must never be sent). */
  rawBodies(): string[];
  hits(): CaptureHit[];
  clear(): void;
  /**
   * Answer every track call with this HTTP status (keeping the raw body, storing no item), to play an
   * ingestion outage; undefined returns to normal.
   */
  failWith(status: number | undefined): void;
  /**
   * Resolves with the items once `predicate` holds for them, checked on every arrival; rejects after
   * `timeoutMs` (default 30000) naming what arrived. For items sent by another process.
   */
  waitFor(predicate: (items: CapturedItem[]) => boolean, timeoutMs?: number): Promise<CapturedItem[]>;
  close(): Promise<void>;
}

const TRACK_PATHS = new Set(['/v2.1/track', '/v2/track']);
const MAX_BODY_BYTES = 16 * 1024 * 1024;

function isEnvelope(value: unknown): value is CapturedItem {
  if (typeof value !== 'object' || value === null) return false;
  const data = (value as { data?: unknown }).data;
  return (
    typeof (value as { name?: unknown }).name === 'string' &&
    typeof data === 'object' &&
    data !== null &&
    typeof (data as { baseType?: unknown }).baseType === 'string'
  );
}

/** A JSON array of envelopes, or newline-delimited envelopes (both are accepted by the real service). */
function parseEnvelopes(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) return JSON.parse(trimmed) as unknown[];
  return trimmed
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as unknown);
}

function decode(body: Buffer, encoding: string | undefined): string {
  const gzipMagic = body.length > 2 && body[0] === 0x1f && body[1] === 0x8b;
  if (encoding === 'gzip' || gzipMagic) return gunzipSync(body).toString('utf8');
  if (encoding === 'deflate') return inflateSync(body).toString('utf8');
  return body.toString('utf8');
}

export async function startTelemetryCapture(
  options: TelemetryCaptureOptions = {},
): Promise<TelemetryCapture> {
  const host = options.host ?? '127.0.0.1';
  const ownDir = options.certsDir ? undefined : await mkdtemp(path.join(tmpdir(), 'telemetry-capture-'));
  const certsDir = options.certsDir ?? (ownDir as string);
  const instrumentationKey = options.instrumentationKey ?? randomUUID();

  const items: CapturedItem[] = [];
  const rawBodies: string[] = [];
  const hits: CaptureHit[] = [];
  /** Pending waitFor calls: each checks its predicate on arrival, and fails when the capture closes. */
  let failure: number | undefined;
  const waiters = new Map<() => void, (error: Error) => void>();
  const notify = (): void => [...waiters.keys()].forEach((check) => check());

  async function track(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request, MAX_BODY_BYTES);
    if (!body) return sendJson(response, 413, { itemsReceived: 0, itemsAccepted: 0, errors: [] });
    let text: string;
    try {
      text = decode(body, request.headers['content-encoding']);
    } catch {
      rawBodies.push(body.toString('utf8'));
      return sendJson(response, 400, { itemsReceived: 0, itemsAccepted: 0, errors: [] });
    }
    rawBodies.push(text);
    if (failure !== undefined) {
      notify();
      return sendJson(response, failure, { itemsReceived: 0, itemsAccepted: 0, errors: [] });
    }
    let received: unknown[];
    try {
      received = parseEnvelopes(text);
    } catch {
      notify();
      return sendJson(response, 400, { itemsReceived: 0, itemsAccepted: 0, errors: [] });
    }
    const errors: { index: number; statusCode: number; message: string }[] = [];
    received.forEach((envelope, index) => {
      if (isEnvelope(envelope)) items.push(envelope);
      else errors.push({ index, statusCode: 400, message: 'not a telemetry envelope' });
    });
    notify();
    // 206 is how breeze reports a partly accepted batch.
    sendJson(response, errors.length ? 206 : 200, {
      itemsReceived: received.length,
      itemsAccepted: received.length - errors.length,
      errors,
    });
  }

  let server: Server | undefined;
  try {
    const ca = await ensureLocalCa(certsDir);
    const { certPem, keyPem } = issueServerCertificate(ca, { hosts: [host, 'localhost'] });
    server = createServer({ cert: certPem, key: keyPem }, (request, response) => {
      const urlPath = (request.url ?? '/').split('?', 1)[0] ?? '/';
      hits.push({ method: request.method ?? '', path: urlPath });
      if (request.method === 'POST' && TRACK_PATHS.has(urlPath)) {
        track(request, response).catch(() => {
          if (!response.headersSent)
            sendJson(response, 500, { itemsReceived: 0, itemsAccepted: 0, errors: [] });
        });
      } else if (urlPath.startsWith('/QuickPulseService.svc/')) {
        request.resume();
        sendJson(response, 200, {}, { 'x-ms-qps-subscribed': 'false' });
      } else {
        request.resume();
        sendJson(response, 404, { error: 'not an ingestion route' });
      }
    });
    const port = await listenOn(server, options.port ?? 0, host);
    const url = `https://${host}:${port}`;
    const running = server;

    return {
      url,
      connectionString: `InstrumentationKey=${instrumentationKey};IngestionEndpoint=${url}/;LiveEndpoint=${url}/`,
      ca: { caPem: ca.caPem, caPath: ca.caPath },
      items: () => [...items],
      rawBodies: () => [...rawBodies],
      hits: () => [...hits],
      clear: () => {
        items.length = 0;
        rawBodies.length = 0;
        hits.length = 0;
      },
      failWith: (status) => {
        failure = status;
      },
      waitFor: (predicate, timeoutMs = 30_000) =>
        new Promise((resolve, reject) => {
          const check = (): void => {
            if (!predicate([...items])) return;
            finish();
            resolve([...items]);
          };
          const timer = setTimeout(() => {
            finish();
            const names = items.map((item) => item.data.baseData.name ?? item.data.baseType).join(', ');
            reject(new Error(`telemetry capture: condition not met in ${timeoutMs} ms; received [${names}]`));
          }, timeoutMs);
          const finish = (): void => {
            clearTimeout(timer);
            waiters.delete(check);
          };
          waiters.set(check, (error) => {
            finish();
            reject(error);
          });
          check();
        }),
      close: async () => {
        [...waiters.values()].forEach((fail) => fail(new Error('telemetry capture closed')));
        await new Promise<void>((resolve) => {
          running.close(() => resolve());
          running.closeAllConnections();
        });
        if (ownDir) await rm(ownDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    server?.close();
    if (ownDir) await rm(ownDir, { recursive: true, force: true });
    throw error;
  }
}
