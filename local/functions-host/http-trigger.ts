/**
 * HTTP triggers: the listener, routing, keys, the body limit, and the RPC shapes the library's own
 * HttpRequest/HttpResponse read and write.
 *
 * Answers that are not the function's, as the real host gives them (all with an empty body):
 * - 404 when no route matches, and also when a route matches but not its methods: the host's router
 *   tries the next route and ends in 404; it does not answer 405 (Azure/azure-functions-host#10098,
 *   "Function app should return 405 for request on known route but unsupported HTTP method", open:
 *   a DELETE on a GET/POST route gets `404 Not Found`, `Content-Length: 0`; HEAD on a GET-only route
 *   likewise, Azure/azure-functions-host#11625).
 * - 401 for a missing or wrong key on `function`/`admin` routes.
 * - 413 when the body is larger than the limit: 100 MB (104,857,600 bytes) by default, the documented
 *   HTTP trigger request length limit; FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (bytes) changes it, as on the
 *   real host.
 * - 500 when the function fails; 204 when it returns no response (the documented default return value
 *   of an HTTP function in Functions 2.x and later).
 *
 * Answers of this host only, as application/problem+json (problems.ts), for what the real host answers
 * with an empty body or not at all:
 * - 500 InternalError when the function runs past host.json functionTimeout: the status the real host
 *   gives a timed-out invocation (a fault of the function, not of a dependency, so not 503); `detail`
 *   names the limit and quotes the invocation id for the log;
 * - 400 InvalidRequest for a path that is not valid percent-encoded UTF-8 (which no route can match), or
 *   a request target or Host header that does not make a URL;
 * - 431 / 408 / 400 for requests the HTTP parser refuses (client-errors.ts). The request line and
 *   header fields may be 32 KiB together: Kestrel's limit for the header fields in the real host.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../http/messages.js';
import type { RegisteredFunction, WorkerApp } from './core-api.js';
import type {
  RpcBindingInfo,
  RpcHttpCookie,
  RpcHttpData,
  RpcNullableString,
  RpcTypedData,
} from './core-types.js';
import { InvalidRequestError, ProblemError } from '../../shared/errors/index.js';
import { answerClientErrors } from './client-errors.js';
import { formatTimeSpan, HostStartError } from './config.js';
import { invokeFunction } from './invoke.js';
import type { KeyStore } from './keys.js';
import type { HostLogger } from './log.js';
import {
  compareRoutes,
  joinRoutePrefix,
  matchRoute,
  parseRouteTemplate,
  percentEncodingProblem,
  type RouteTemplate,
} from './routes.js';
import { sendProblem } from './problems.js';

export const DEFAULT_MAX_REQUEST_BODY_BYTES = 104_857_600;
/** Request line and header fields together (Node's maxHeaderSize; Kestrel's header limit is 32 KiB). */
export const MAX_HEADER_BYTES = 32 * 1024;

export interface HttpRoute {
  functionName: string;
  fn: RegisteredFunction;
  bindingName: string;
  template: RouteTemplate;
  /** Upper-case methods; undefined means any method. */
  methods: string[] | undefined;
  authLevel: string;
}

export function isHttpTrigger(binding: RpcBindingInfo): boolean {
  return binding.direction === 'in' && String(binding.type).toLowerCase() === 'httptrigger';
}

/** The HTTP routes of the app, in the order the host tries them. */
export function buildHttpRoutes(functions: Iterable<RegisteredFunction>, routePrefix: string): HttpRoute[] {
  const routes: HttpRoute[] = [];
  for (const fn of functions) {
    const trigger = Object.entries(fn.metadata.bindings).find(([, b]) => isHttpTrigger(b));
    if (!trigger) continue;
    const [bindingName, binding] = trigger;
    const route =
      typeof binding.route === 'string' && binding.route !== '' ? binding.route : fn.metadata.name;
    let template: RouteTemplate;
    try {
      template = parseRouteTemplate(joinRoutePrefix(routePrefix, route));
    } catch (err) {
      throw new HostStartError(`Function '${fn.metadata.name}': ${(err as Error).message}`);
    }
    const methods =
      Array.isArray(binding.methods) && binding.methods.length > 0
        ? binding.methods.map((m) => String(m).toUpperCase())
        : undefined;
    const authLevel = typeof binding.authLevel === 'string' ? binding.authLevel.toLowerCase() : 'function';
    routes.push({ functionName: fn.metadata.name, fn, bindingName, template, methods, authLevel });
  }
  return routes.sort((a, b) => compareRoutes(a.template, b.template));
}

/** "GET,POST /api/things/{id}" style description for the ready output. */
export function describeRoute(route: HttpRoute, baseUrl: string): string {
  return `[${route.methods?.join(',') ?? 'ANY'}] ${baseUrl}/${route.template.text}${route.authLevel === 'anonymous' ? '' : ` (auth: ${route.authLevel})`}`;
}

function nullable(record: Record<string, string>): Record<string, RpcNullableString> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, { value: v }]));
}

/** Multi-valued fields are joined with ',' like ASP.NET's StringValues.ToString(). */
function queryOf(url: URL): { all: Record<string, string>; nonEmpty: Record<string, string> } {
  const grouped = new Map<string, string[]>();
  for (const [k, v] of url.searchParams) grouped.set(k, [...(grouped.get(k) ?? []), v]);
  const all: Record<string, string> = {};
  const nonEmpty: Record<string, string> = {};
  for (const [k, vs] of grouped) {
    const joined = vs.join(',');
    all[k] = joined;
    if (joined !== '') nonEmpty[k] = joined;
  }
  return { all, nonEmpty };
}

function headersOf(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    const joined = (values ?? []).join(name === 'cookie' ? '; ' : ',');
    if (joined !== '') out[name] = joined; // the worker asks the host to leave out empty headers
  }
  return out;
}

function typedDataToBuffer(data: RpcTypedData | null | undefined): Buffer {
  if (!data) return Buffer.alloc(0);
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.stream) return Buffer.from(data.stream);
  if (typeof data.string === 'string') return Buffer.from(data.string, 'utf8');
  if (typeof data.json === 'string') return Buffer.from(data.json, 'utf8');
  if (typeof data.int === 'number') return Buffer.from(String(data.int));
  if (typeof data.double === 'number') return Buffer.from(String(data.double));
  return Buffer.alloc(0);
}

/** Set-Cookie as ASP.NET Core writes it (lower-case attributes, path defaults to "/", value escaped). */
export function serializeCookie(cookie: RpcHttpCookie): string {
  let out = `${cookie.name ?? ''}=${encodeURIComponent(cookie.value ?? '')}`;
  const expires = cookie.expires?.value?.seconds;
  if (typeof expires === 'number') out += `; expires=${new Date(expires * 1000).toUTCString()}`;
  const maxAge = cookie.maxAge?.value;
  if (typeof maxAge === 'number') out += `; max-age=${Math.trunc(maxAge)}`;
  if (cookie.domain?.value) out += `; domain=${cookie.domain.value}`;
  out += `; path=${cookie.path?.value || '/'}`;
  if (cookie.secure?.value) out += '; secure';
  const sameSite = { lax: 'lax', strict: 'strict', explicitNone: 'none', none: undefined }[
    cookie.sameSite ?? 'none'
  ];
  if (sameSite) out += `; samesite=${sameSite}`;
  if (cookie.httpOnly?.value) out += '; httponly';
  return out;
}

function answerEmpty(res: http.ServerResponse, status: number, close = false): void {
  if (res.headersSent) return;
  res.statusCode = status;
  res.setHeader('content-length', '0');
  if (close) res.setHeader('connection', 'close');
  res.end();
}

const HOME_PAGE =
  '<!DOCTYPE html><html><head><title>Azure Functions (local host)</title></head>' +
  '<body><h1>Your Functions 4.0 app is up and running</h1></body></html>';

export interface HttpServerOptions {
  app: WorkerApp;
  routes: HttpRoute[];
  keys: KeyStore;
  logger: HostLogger;
  host: string;
  port: number;
  maxRequestBodyBytes: number;
  /** host.json functionTimeout; undefined: no limit. */
  functionTimeoutMs: number | undefined;
  /** Origins allowed by CORS (`--cors`, local.settings.json `Host.CORS`); `*` allows any. */
  corsOrigins?: readonly string[];
}

export interface RunningHttpServer {
  url: string;
  port: number;
  /**
   * Stops accepting, lets requests in flight finish their responses (up to `graceMs`), then ends every
   * connection. Resolves with whether all requests finished in time.
   */
  close(graceMs: number): Promise<boolean>;
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { app, routes, keys, logger, maxRequestBodyBytes, functionTimeoutMs } = options;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const rawPath = rawUrl.split('?')[0] ?? '/';
    const encodingProblem = percentEncodingProblem(rawPath);
    if (encodingProblem) {
      req.resume();
      sendProblem(res, new InvalidRequestError(`The request path is not valid: ${encodingProblem}.`));
      return;
    }
    let url: URL;
    try {
      url = new URL(rawUrl, `http://${req.headers.host ?? `${options.host}:${address.port}`}`);
    } catch {
      req.resume();
      sendProblem(
        res,
        new InvalidRequestError('The request target and the Host header do not make a valid URL.'),
      );
      return;
    }

    // CORS as Core Tools and the platform answer it, before routes and keys: any method and header of
    // an allowed origin. A portal on another origin calls the API through it.
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    const cors = options.corsOrigins ?? [];
    const allowed = origin && (cors.includes('*') ? '*' : cors.includes(origin) ? origin : undefined);
    if (allowed) {
      res.setHeader('access-control-allow-origin', allowed);
      res.setHeader('vary', 'Origin');
      const preflightMethod = req.headers['access-control-request-method'];
      if (method === 'OPTIONS' && typeof preflightMethod === 'string') {
        req.resume();
        res.setHeader('access-control-allow-methods', preflightMethod);
        const asked = req.headers['access-control-request-headers'];
        if (typeof asked === 'string') res.setHeader('access-control-allow-headers', asked);
        answerEmpty(res, 204);
        return;
      }
    }

    if (rawPath === '/' && (method === 'GET' || method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(method === 'HEAD' ? undefined : HOME_PAGE);
      return;
    }

    let match: { route: HttpRoute; values: Record<string, string> } | undefined;
    for (const route of routes) {
      const values = matchRoute(route.template, rawPath);
      if (!values) continue;
      if (route.methods && !route.methods.includes(method)) continue;
      match = { route, values };
      break;
    }
    if (!match) {
      req.resume();
      answerEmpty(res, 404);
      return;
    }
    const { route, values } = match;

    const headerKey = req.headers['x-functions-key'];
    const presented =
      (Array.isArray(headerKey) ? headerKey[0] : headerKey) || url.searchParams.get('code') || undefined;
    if (!keys.authorize(route.authLevel, route.functionName, presented)) {
      req.resume();
      answerEmpty(res, 401);
      return;
    }

    const body = await readBody(req, maxRequestBodyBytes);
    if (body === undefined) {
      answerEmpty(res, 413, true);
      res.on('finish', () => req.destroy());
      return;
    }

    const headers = headersOf(req);
    const query = queryOf(url);
    const httpData: RpcHttpData = {
      method,
      url: url.toString(),
      headers,
      nullableHeaders: nullable(headers),
      query: query.nonEmpty,
      nullableQuery: nullable(query.all),
      params: values,
      nullableParams: nullable(values),
      body: body.length > 0 ? { bytes: body } : undefined,
    };

    const result = await invokeFunction(
      app,
      route.fn,
      { inputData: [{ name: route.bindingName, data: { http: httpData } }], triggerMetadata: {} },
      logger,
      functionTimeoutMs,
    );
    if (result.timedOut) {
      sendProblem(
        res,
        new ProblemError(
          'InternalError',
          `The function '${route.functionName}' did not finish within functionTimeout ` +
            `(${formatTimeSpan(functionTimeoutMs ?? 0)}) and was abandoned. Quote reference ${result.invocationId}.`,
        ),
      );
      return;
    }
    if (!result.succeeded) {
      answerEmpty(res, 500);
      return;
    }

    const outputEntry = Object.entries(route.fn.metadata.bindings).find(
      ([, b]) => b.direction === 'out' && String(b.type).toLowerCase() === 'http',
    );
    const typed =
      outputEntry?.[0] === '$return'
        ? result.response?.returnValue
        : result.response?.outputData?.find((o) => o.name === outputEntry?.[0])?.data;
    const response = typed?.http;
    if (!response) {
      answerEmpty(res, 204);
      return;
    }
    const status = Number.parseInt(response.statusCode ?? '200', 10);
    res.statusCode = Number.isInteger(status) && status >= 100 && status <= 999 ? status : 200;
    for (const [name, value] of Object.entries(response.headers ?? {})) {
      try {
        res.setHeader(name, value);
      } catch {
        logger.system(
          'warning',
          `Function '${route.functionName}' set an invalid response header '${name}'; it was dropped.`,
        );
      }
    }
    const cookies = (response.cookies ?? []).map(serializeCookie);
    if (cookies.length > 0) {
      const existing = res.getHeader('set-cookie');
      const prior = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
      res.setHeader('set-cookie', [...prior, ...cookies]);
    }
    const bytes = typedDataToBuffer(response.body);
    res.setHeader('content-length', String(bytes.length));
    res.end(method === 'HEAD' ? undefined : bytes);
  }

  // Requests whose response is not finished yet; stopping waits for them.
  let active = 0;
  let onIdle: (() => void) | undefined;
  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    active++;
    res.once('close', () => {
      active--;
      if (active === 0) onIdle?.();
    });
    handle(req, res).catch((err: unknown) => {
      logger.system(
        'error',
        `Request failed in the host: ${err instanceof Error ? err.message : String(err)}`,
      );
      answerEmpty(res, 500);
    });
  });
  answerClientErrors(server, MAX_HEADER_BYTES);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new HostStartError(
              `Port ${options.port} is unavailable. Close the process using that port, or specify another port using --port [-p].`,
            )
          : err,
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${hostForUrl}:${address.port}`,
    port: address.port,
    close: async (graceMs: number) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const drained =
        active === 0 ||
        (await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), graceMs);
          onIdle = () => {
            clearTimeout(timer);
            resolve(true);
          };
        }));
      server.closeAllConnections();
      await closed;
      return drained;
    },
  };
}
