/**
 * The development identity provider: per-tenant OIDC discovery, JWKS, a client credentials token
 * endpoint and, for single-page applications, interactive sign-in (authorization code with PKCE,
 * authorization-code.ts) on the paths Microsoft Entra ID v2 uses, so code configured for Entra only
 * needs another base URL (AUTH_ISSUER=http://127.0.0.1:7072/{tenantId}/v2.0).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { generateSigningKey, loadOrCreateSigningKey, SIGNING_ALGORITHM } from './signing-key.js';
import {
  createTokenMinter,
  DEFAULT_LIFETIME_SECONDS,
  isTenantId,
  type MintOptions,
  type TokenMinter,
} from './tokens.js';
import { readBody, sendJson } from '../http/messages.js';
import {
  AuthorizationCodeFlow,
  originOf,
  type DevelopmentUser,
  type SpaRegistration,
} from './authorization-code.js';
import { listenOn } from '../process/ports.js';

export const DEFAULT_IDENTITY_PORT = 7072;
export const DEFAULT_IDENTITY_HOST = '127.0.0.1';

/** A service identity that may use the client credentials grant (the agent, the emulators' callers). */
export interface ClientRegistration {
  clientId: string;
  clientSecret: string;
  /** The service principal's object id (`oid`); defaults to a UUID derived from tenant and client id. */
  objectId?: string;
  /** Application roles granted to it (`roles`). */
  roles?: string[];
}

export interface IdentityProviderOptions {
  /** Port to listen on; 0 picks a free one. Default 7072. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Where the signing key is kept (e.g. `.local/identity`); without it the key lives in memory. */
  dataDir?: string;
  clients?: ClientRegistration[];
  /** Single-page applications that may sign users in (authorization code with PKCE). */
  applications?: SpaRegistration[];
  /** The users the development sign-in page offers. */
  users?: DevelopmentUser[];
  /**
   * Serve HTTPS with this certificate (e.g. from local/certs) instead of HTTP. MSAL, and so
   * @azure/identity's ClientSecretCredential, only accepts an https authority.
   */
  tls?: { cert: string; key: string };
  /** Where unexpected server errors are reported. Default console.error. */
  logError?: (message: string) => void;
}

/** What the provider has served, for tests that check caching by their callers. */
export type IdentityRequestKind = 'discovery' | 'jwks' | 'token';

export interface IdentityProvider {
  /** Base URL, e.g. http://127.0.0.1:7072 (https://… with the tls option). */
  url: string;
  /** The issuer of a tenant: `{url}/{tenant}/v2.0`. */
  issuer(tenant: string): string;
  /** AUTH_ISSUER for this provider: `{url}/{tenantId}/v2.0`. */
  issuerTemplate: string;
  mintToken(opts: MintOptions): Promise<string>;
  /** Registers (or replaces) a service identity for the client credentials grant. */
  registerClient(client: ClientRegistration): void;
  /** How many requests of each kind were served since start. */
  requestCounts(): Readonly<Record<IdentityRequestKind, number>>;
  close(): Promise<void>;
}

const MAX_FORM_BYTES = 16 * 1024;

export async function startIdentityProvider(opts: IdentityProviderOptions = {}): Promise<IdentityProvider> {
  const key = opts.dataDir ? await loadOrCreateSigningKey(opts.dataDir) : await generateSigningKey();
  const host = opts.host ?? DEFAULT_IDENTITY_HOST;
  const logError = opts.logError ?? ((message: string) => console.error(message));
  const clients = new Map<string, ClientRegistration>();
  for (const client of opts.clients ?? []) clients.set(client.clientId, { ...client });
  const counts: Record<IdentityRequestKind, number> = { discovery: 0, jwks: 0, token: 0 };

  // The issuer names the port, so the request handler is attached once the server listens.
  const server = opts.tls ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key }) : createServer();
  const port = await listenOn(server, opts.port ?? DEFAULT_IDENTITY_PORT, host);
  const baseUrl = `${opts.tls ? 'https' : 'http'}://${urlHost(host)}:${port}`;
  const minter = createTokenMinter(key, baseUrl);
  const signIn = new AuthorizationCodeFlow(minter, opts.applications ?? [], opts.users ?? []);

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    handle(request, response).catch((error: unknown) => {
      logError(`identity provider: ${request.method} ${pathOf(request)} failed: ${String(error)}`);
      if (!response.headersSent) sendJson(response, 500, { error: 'server_error' });
      else response.destroy();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const route = matchRoute(pathOf(request));
    if (!route) return sendJson(response, 404, { error: 'not_found' });
    // A registered single-page application's origin may read discovery, keys and tokens (CORS).
    const origin = signIn.allowedOrigin(originOf(request));
    if (origin) {
      response.setHeader('Access-Control-Allow-Origin', origin);
      response.setHeader('Vary', 'Origin');
    }
    const allowed =
      route.kind === 'token' ? ['POST'] : route.kind === 'authorize' ? ['GET', 'POST'] : ['GET'];
    if (request.method === 'OPTIONS' && origin) {
      const asked = request.headers['access-control-request-headers'];
      response.writeHead(204, {
        'Access-Control-Allow-Methods': allowed.join(', '),
        ...(asked ? { 'Access-Control-Allow-Headers': asked } : {}),
        'Access-Control-Max-Age': '600',
      });
      return void response.end();
    }
    if (!allowed.includes(request.method ?? '') && !(allowed.includes('GET') && request.method === 'HEAD')) {
      response.setHeader(
        'Allow',
        allowed.includes('GET') ? [...allowed, 'HEAD'].join(', ') : allowed.join(', '),
      );
      return sendJson(response, 405, { error: 'method_not_allowed' });
    }
    switch (route.kind) {
      case 'discovery':
        counts.discovery++;
        return sendJson(response, 200, discoveryDocument(minter.issuer(route.tenant), baseUrl, route.tenant));
      case 'jwks':
        counts.jwks++;
        return sendJson(
          response,
          200,
          { keys: [key.publicJwk] },
          { 'Cache-Control': 'max-age=86400, private' },
        );
      case 'authorize': {
        let params = new URL(request.url ?? '/', baseUrl).searchParams;
        if (request.method === 'POST') {
          const body = await readBody(request, MAX_FORM_BYTES);
          if (body === undefined) return sendJson(response, 413, { error: 'invalid_request' });
          params = new URLSearchParams(body.toString('utf8'));
        }
        return signIn.authorize(response, route.tenant, params, pathOf(request));
      }
      case 'token':
        counts.token++;
        return issueToken(request, response, route.tenant, minter, clients, signIn);
    }
  }

  return {
    url: baseUrl,
    issuer: (tenant) => minter.issuer(tenant),
    issuerTemplate: `${baseUrl}/{tenantId}/v2.0`,
    mintToken: (mint) => minter.mintToken(mint),
    registerClient: (client) => void clients.set(client.clientId, { ...client }),
    requestCounts: () => ({ ...counts }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections(); // keep-alive sockets of fetch() would otherwise hold close() open
      }),
  };
}

type Route = { kind: 'discovery' | 'jwks' | 'token' | 'authorize'; tenant: string };

const ROUTES: ReadonlyArray<[RegExp, Route['kind']]> = [
  [/^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/, 'discovery'],
  [/^\/([^/]+)\/discovery\/v2\.0\/keys$/, 'jwks'],
  [/^\/([^/]+)\/oauth2\/v2\.0\/token$/, 'token'],
  [/^\/([^/]+)\/oauth2\/v2\.0\/authorize$/, 'authorize'],
];

function matchRoute(path: string): Route | undefined {
  for (const [pattern, kind] of ROUTES) {
    const tenant = pattern.exec(path)?.[1];
    if (tenant !== undefined) return isTenantId(tenant) ? { kind, tenant } : undefined;
  }
  return undefined;
}

function pathOf(request: IncomingMessage): string {
  return (request.url ?? '/').split('?')[0]!;
}

/** The discovery document, with the fields and shape of Entra ID's v2 document. */
function discoveryDocument(issuer: string, baseUrl: string, tenant: string): Record<string, unknown> {
  const oauth = `${baseUrl}/${tenant}/oauth2/v2.0`;
  return {
    token_endpoint: `${oauth}/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    jwks_uri: `${baseUrl}/${tenant}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: [SIGNING_ALGORITHM],
    response_types_supported: ['code'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    code_challenge_methods_supported: ['S256'],
    issuer,
    request_uri_parameter_supported: false,
    // The development sign-in page (authorization-code.ts).
    authorization_endpoint: `${oauth}/authorize`,
    claims_supported: [
      'sub',
      'iss',
      'aud',
      'exp',
      'iat',
      'nbf',
      'name',
      'preferred_username',
      'tid',
      'ver',
      'oid',
    ],
    tenant_region_scope: 'local',
    cloud_instance_name: 'local',
  };
}

/**
 * The token endpoint: the authorization code and refresh token grants of single-page applications
 * (authorization-code.ts), and the client credentials grant (RFC 6749 §4.4) with Entra's
 * `{resource}/.default` scope.
 */
async function issueToken(
  request: IncomingMessage,
  response: ServerResponse,
  tenant: string,
  minter: TokenMinter,
  clients: ReadonlyMap<string, ClientRegistration>,
  signIn: AuthorizationCodeFlow,
): Promise<void> {
  const oauthError = (status: number, error: string, description: string, headers?: Record<string, string>) =>
    sendJson(response, status, { error, error_description: description }, { ...noStore, ...headers });

  const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType !== 'application/x-www-form-urlencoded') {
    return oauthError(400, 'invalid_request', 'The request body must be application/x-www-form-urlencoded.');
  }
  const body = await readBody(request, MAX_FORM_BYTES);
  if (body === undefined) return oauthError(413, 'invalid_request', 'The request body is too large.');
  const form = new URLSearchParams(body.toString('utf8'));

  const grantType = form.get('grant_type');
  if (!grantType) return oauthError(400, 'invalid_request', 'The grant_type parameter is missing.');
  if (await signIn.redeem(response, tenant, form, originOf(request))) return;
  if (grantType !== 'client_credentials') {
    return oauthError(
      400,
      'unsupported_grant_type',
      'Only the authorization_code, refresh_token and client_credentials grants are supported.',
    );
  }

  const basic = basicCredentials(request.headers.authorization);
  if (basic === null) return oauthError(400, 'invalid_request', 'The Authorization header is malformed.');
  if (basic && (form.has('client_id') || form.has('client_secret')) && form.get('client_id') !== basic.id) {
    return oauthError(400, 'invalid_request', 'Client credentials were sent in more than one way.');
  }
  const clientId = basic?.id ?? form.get('client_id');
  const clientSecret = basic?.secret ?? form.get('client_secret');
  const client = clientId ? clients.get(clientId) : undefined;
  if (!client || clientSecret === null || !secretsEqual(clientSecret, client.clientSecret)) {
    return oauthError(
      401,
      'invalid_client',
      'Unknown client or invalid client secret.',
      basic ? { 'WWW-Authenticate': 'Basic realm="identity"' } : undefined,
    );
  }

  const scopes = (form.get('scope') ?? '').split(/\s+/).filter(Boolean);
  if (scopes.length === 0) return oauthError(400, 'invalid_request', 'The scope parameter is missing.');
  const resource = scopes.length === 1 && scopes[0]!.endsWith('/.default') ? scopes[0]!.slice(0, -9) : '';
  if (!resource) {
    return oauthError(400, 'invalid_scope', 'The scope must be exactly one resource followed by /.default.');
  }

  const accessToken = await minter.mintAppToken({
    tenant,
    clientId: client.clientId,
    audience: resource,
    ...(client.objectId ? { objectId: client.objectId } : {}),
    ...(client.roles ? { roles: client.roles } : {}),
  });
  sendJson(
    response,
    200,
    {
      token_type: 'Bearer',
      expires_in: DEFAULT_LIFETIME_SECONDS,
      ext_expires_in: DEFAULT_LIFETIME_SECONDS,
      access_token: accessToken,
    },
    noStore,
  );
}

const noStore = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`; null when malformed. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | null | undefined {
  if (!header) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  try {
    const unescape = (s: string) => decodeURIComponent(s.replaceAll('+', ' '));
    return { id: unescape(decoded.slice(0, colon)), secret: unescape(decoded.slice(colon + 1)) };
  } catch {
    return null;
  }
}

/** Constant-time comparison (over digests, so that lengths do not leak either). */
function secretsEqual(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return DEFAULT_IDENTITY_HOST;
  return host.includes(':') ? `[${host}]` : host;
}
