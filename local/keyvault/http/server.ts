/**
 * The HTTPS front of the emulator: authentication, api-version, routing, throttling, RBAC, then the
 * keys API, each refusal with Key Vault's status and error body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { isHsm } from '../keys/model.js';
import type { KeyVault } from '../keys/vault.js';
import type { VaultRoleAssignments } from '../rbac/assignments.js';
import type { ThrottleCategory, ThrottleLimiter } from '../throttle/limiter.js';
import { ADMIN_PREFIX, handleAdminRequest } from './admin.js';
import type { Authenticator } from './auth.js';
import { badParameter, forbiddenByRbac, KeyVaultError, throttled } from './errors.js';
import { sendJson } from '../../http/messages.js';
import { NO_CACHE, readJsonBody, sendError } from './io.js';
import { handleKeysRequest } from './keys-api.js';
import { ANONYMOUS_CALLER, type RequestStats } from './request-stats.js';
import { matchRoute, type Route } from './routes.js';
import { listenOn } from '../../process/ports.js';

/** The 7.x versions and the dated ones the SDKs use (4.10 sends 2025-07-01). */
const API_VERSION = /^(7\.[0-9](-preview(\.\d+)?)?|20\d\d-\d\d-\d\d(-preview)?)$/;

export interface KeyVaultServerOptions {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  vault: KeyVault;
  authenticator: Authenticator;
  roleAssignments: VaultRoleAssignments;
  administrators: ReadonlySet<string>;
  throttle?: ThrottleLimiter;
  /** Items per page of the list operations when the caller gives no maxresults (Key Vault: 25). */
  pageSize?: number;
  /** Counts every request of the keys API (served at /.emulator/stats). */
  stats: RequestStats;
  logError: (message: string) => void;
}

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

export async function startServer(options: KeyVaultServerOptions): Promise<RunningServer> {
  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const tally = countWhenAnswered(options.stats, request, response);
    handle(options, request, response, tally).catch((error: unknown) => {
      if (error instanceof KeyVaultError) {
        request.resume(); // an unread body must not stall the connection
        return sendError(response, error);
      }
      // Only the message: request bodies (plaintexts, key material) are never logged.
      options.logError(`keyvault: ${request.method} ${pathOf(request)} failed: ${(error as Error).message}`);
      if (!response.headersSent) {
        sendError(
          response,
          new KeyVaultError(500, 'InternalServerError', 'The emulator failed to process the request.'),
        );
      } else response.destroy();
    });
  });
  const port = await listenOn(server, options.port, options.host);
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function pathOf(request: IncomingMessage): string {
  return (request.url ?? '/').split('?')[0]!;
}

/** Who asked (filled in as it is learned); counted when the answer has gone out. */
interface Tally {
  caller?: string;
  /** Undefined: not counted (the emulator's own endpoint). */
  operation?: string;
}

function countWhenAnswered(stats: RequestStats, request: IncomingMessage, response: ServerResponse): Tally {
  const tally: Tally = {};
  try {
    const route = matchRoute(
      request.method ?? 'GET',
      new URL(request.url ?? '/', 'https://vault.invalid').pathname,
    );
    tally.operation = route.operation ?? route.kind;
  } catch {
    tally.operation = 'unknownRoute';
  }
  response.once('finish', () => {
    if (tally.operation) stats.count(tally.caller ?? ANONYMOUS_CALLER, tally.operation, response.statusCode);
  });
  return tally;
}

async function handle(
  options: KeyVaultServerOptions,
  request: IncomingMessage,
  response: ServerResponse,
  tally: Tally,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'https://vault.invalid');
  if (url.pathname.startsWith(ADMIN_PREFIX)) {
    delete tally.operation;
    const result = await handleAdminRequest(options, request, url.pathname);
    return sendJson(response, result.status, result.body, NO_CACHE);
  }

  const caller = await options.authenticator.authenticate(request.headers.authorization);
  tally.caller = caller.oid;
  const apiVersion = url.searchParams.get('api-version');
  if (!apiVersion) throw badParameter("The 'api-version' query parameter is missing.");
  if (!API_VERSION.test(apiVersion)) {
    throw badParameter(`The specified version (${apiVersion}) is not recognized.`);
  }
  const route = matchRoute(request.method ?? 'GET', url.pathname);
  const body = route.hasBody ? await readJsonBody(request) : (request.resume(), undefined);

  if (options.throttle) {
    const { category, weight } = throttleCost(options.vault, route, body);
    const retryAfter = options.throttle.admit(category, Date.now(), weight);
    if (retryAfter !== undefined) throw throttled(options.throttle.sendsRetryAfter ? retryAfter : undefined);
  }
  if (!options.roleAssignments.isAllowed(caller.oid, route.action, route.name)) {
    throw forbiddenByRbac({
      oid: caller.oid,
      action: route.action,
      resource: route.name ? `/keys/${route.name}` : '/',
    });
  }

  const host = request.headers.host ?? `127.0.0.1:${options.port}`;
  const result = await handleKeysRequest(options.vault, {
    route,
    body,
    vaultUrl: `https://${host}`,
    query: url.searchParams,
    apiVersion,
    ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}),
  });
  sendJson(response, result.status, result.body, NO_CACHE);
}

/**
 * What a request costs against Key Vault's limits: creating, importing and rotating a key are creations
 * (HSM or software by the key's type); everything else is an operation, weighted by the key's type and
 * RSA size (3072-bit 4 times, 4096-bit 8 times a 2048-bit or EC key).
 */
function throttleCost(
  vault: KeyVault,
  route: Route,
  body: unknown,
): { category: ThrottleCategory; weight: number } {
  if (route.kind === 'createKey' || route.kind === 'importKey') {
    const b = (body ?? {}) as { kty?: unknown; Hsm?: unknown; key?: { kty?: unknown } };
    const kty = String(b.kty ?? b.key?.kty ?? '');
    return { category: b.Hsm === true || kty.endsWith('-HSM') ? 'hsmCreates' : 'creates', weight: 1 };
  }
  const key = route.name ? vault.peekKey(route.name) : undefined;
  const hsm = key !== undefined && isHsm(key.kty);
  if (route.kind === 'rotateKey') return { category: hsm ? 'hsmCreates' : 'creates', weight: 1 };
  const bits = key?.rsaBits ?? 2048;
  const weight = bits > 3072 ? 8 : bits > 2048 ? 4 : 1;
  return { category: hsm ? 'hsmOperations' : 'operations', weight };
}
