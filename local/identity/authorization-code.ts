/**
 * Interactive sign-in at the development identity provider, as a single-page application meets it at
 * Entra ID: the authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636 S256 only), a redirect URI
 * registered exactly, codes redeemed once and only by a cross-origin request from that application's
 * origin (Entra's rule for the SPA platform), and refresh tokens that rotate on each use. The tokens
 * carry the same claims as `npm run token`'s.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../http/messages.js';
import { signInErrorPage, signInPage, signInPageHeaders } from './sign-in-page.js';
import { DEFAULT_LIFETIME_SECONDS, userObjectId, type TokenMinter } from './tokens.js';

/** A single-page application registered for sign-in (Entra: the "Single-page application" platform). */
export interface SpaRegistration {
  clientId: string;
  /** Shown on the sign-in page. */
  name?: string;
  /** Exact redirect URIs; their origins may redeem codes and are answered with CORS headers. */
  redirectUris: string[];
}

/** A user the development sign-in page offers. */
export interface DevelopmentUser {
  tenant: string;
  upn: string;
  name?: string;
  onPremisesSid?: string;
  /** Application roles of the API granted to the user (e.g. Writeback.Admin). */
  roles?: string[];
}

const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);
const CODE_LIFETIME_MS = 5 * 60_000;
/** Entra gives single-page applications refresh tokens of 24 hours. */
const REFRESH_LIFETIME_MS = 24 * 60 * 60_000;

interface Grant {
  tenant: string;
  clientId: string;
  user: DevelopmentUser;
  /** The API's audience and the scopes granted on it. */
  resource: string;
  scopes: string[];
  expiresAt: number;
}

interface CodeGrant extends Grant {
  redirectUri: string;
  challenge: string;
  nonce?: string;
}

type Form = URLSearchParams;

const noStore = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

const s256 = (verifier: string): string => createHash('sha256').update(verifier, 'ascii').digest('base64url');

/** `api://writeback/access_as_user` → resource `api://writeback`, scope `access_as_user`. */
function resourceScopes(scope: string): { resource: string; scopes: string[] } | string {
  const requested = scope.split(/\s+/).filter((s) => s && !OIDC_SCOPES.has(s));
  if (requested.length === 0) return 'The scope must name the API, e.g. api://writeback/access_as_user.';
  const split = requested.map((s) => {
    const slash = s.lastIndexOf('/');
    return slash > 0 ? { resource: s.slice(0, slash), name: s.slice(slash + 1) } : undefined;
  });
  const resource = split[0]?.resource;
  if (!resource || split.some((s) => !s || s.resource !== resource || !s.name)) {
    return 'The scopes must all be of one API, each written as {resource}/{scope}.';
  }
  return { resource, scopes: split.map((s) => s!.name).filter((name) => name !== '.default') };
}

export class AuthorizationCodeFlow {
  private readonly codes = new Map<string, CodeGrant>();
  private readonly refreshTokens = new Map<string, Grant>();

  constructor(
    private readonly minter: TokenMinter,
    private readonly applications: readonly SpaRegistration[],
    private readonly users: readonly DevelopmentUser[],
    private readonly now: () => number = Date.now,
  ) {}

  /** The origin to allow in CORS answers: a registered application's, else none. */
  allowedOrigin(origin: string | undefined): string | undefined {
    if (!origin) return undefined;
    return this.applications.some((app) => app.redirectUris.some((uri) => new URL(uri).origin === origin))
      ? origin
      : undefined;
  }

  /** `GET` shows the sign-in page; `POST` (the page's form) signs the chosen user in. */
  authorize(response: ServerResponse, tenant: string, params: Form, action: string): void {
    const app = this.applications.find((a) => a.clientId === params.get('client_id'));
    const redirectUri = params.get('redirect_uri') ?? '';
    // Without a known client and its exact redirect URI, redirecting would make an open redirector.
    if (!app)
      return this.errorPage(
        response,
        'unauthorized_client',
        'The client_id is not a registered application.',
      );
    if (!app.redirectUris.includes(redirectUri)) {
      return this.errorPage(
        response,
        'invalid_request',
        'The redirect_uri is not registered for this application.',
      );
    }
    const mode = params.get('response_mode') ?? 'query';
    const back = (values: Record<string, string>) => {
      const state = params.get('state');
      const query = new URLSearchParams({ ...values, ...(state ? { state } : {}) }).toString();
      response.writeHead(302, {
        Location: `${redirectUri}${mode === 'fragment' ? '#' : redirectUri.includes('?') ? '&' : '?'}${query}`,
        'Referrer-Policy': 'no-referrer',
        ...noStore,
      });
      response.end();
    };
    const fail = (error: string, description: string) => back({ error, error_description: description });

    if (mode !== 'query' && mode !== 'fragment')
      return fail('invalid_request', 'response_mode must be query or fragment.');
    if (params.get('response_type') !== 'code')
      return fail('unsupported_response_type', 'Only response_type=code.');
    const challenge = params.get('code_challenge');
    if (!challenge || params.get('code_challenge_method') !== 'S256') {
      return fail('invalid_request', 'PKCE is required: code_challenge with code_challenge_method=S256.');
    }
    const scope = resourceScopes(params.get('scope') ?? '');
    if (typeof scope === 'string') return fail('invalid_scope', scope);
    const users = this.users.filter((u) => u.tenant === tenant);

    const hint = response.req.method === 'POST' ? params.get('login_hint') : null;
    if (hint === null) {
      // The development provider keeps no session, so it cannot sign anyone in without the page.
      if (params.get('prompt') === 'none') return fail('login_required', 'Sign-in needs the sign-in page.');
      const fields: Record<string, string> = {};
      for (const [name, value] of params) if (name !== 'login_hint') fields[name] = value;
      response.writeHead(200, signInPageHeaders(app.redirectUris.map((uri) => new URL(uri).origin)));
      response.end(signInPage({ tenant, clientName: app.name ?? app.clientId, action, fields, users }));
      return;
    }
    const user = users.find((u) => u.upn.toLowerCase() === hint.toLowerCase());
    if (!user) return fail('access_denied', 'That user is not offered by the development sign-in page.');

    const code = randomBytes(32).toString('base64url');
    const nonce = params.get('nonce');
    this.codes.set(code, {
      tenant,
      clientId: app.clientId,
      user,
      ...scope,
      redirectUri,
      challenge,
      ...(nonce ? { nonce } : {}),
      expiresAt: this.now() + CODE_LIFETIME_MS,
    });
    back({
      code,
      client_info: Buffer.from(
        JSON.stringify({ uid: userObjectId(tenant, user.upn), utid: tenant }),
      ).toString('base64url'),
    });
  }

  /**
   * The token endpoint's `authorization_code` and `refresh_token` grants. Returns false for another
   * grant type, which the caller handles.
   */
  async redeem(
    response: ServerResponse,
    tenant: string,
    form: Form,
    origin: string | undefined,
  ): Promise<boolean> {
    const grantType = form.get('grant_type');
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token') return false;
    const error = (status: number, code: string, description: string) =>
      sendJson(response, status, { error: code, error_description: description }, noStore);
    const clientId = form.get('client_id') ?? '';
    const app = this.applications.find((a) => a.clientId === clientId);
    if (!app)
      return (error(400, 'unauthorized_client', 'The client_id is not a registered application.'), true);
    if (!origin || !app.redirectUris.some((uri) => new URL(uri).origin === origin)) {
      error(
        400,
        'invalid_request',
        "Tokens of a single-page application may only be redeemed by a cross-origin request from the application's origin.",
      );
      return true;
    }

    let grant: Grant;
    let nonce: string | undefined;
    if (grantType === 'authorization_code') {
      const code = form.get('code') ?? '';
      const found = this.codes.get(code);
      this.codes.delete(code); // once, whatever happens next
      const verifier = form.get('code_verifier');
      if (
        !found ||
        found.expiresAt < this.now() ||
        found.tenant !== tenant ||
        found.clientId !== clientId ||
        found.redirectUri !== form.get('redirect_uri') ||
        !verifier ||
        s256(verifier) !== found.challenge
      ) {
        return (
          error(400, 'invalid_grant', 'The code is unknown, expired, used, or does not match this request.'),
          true
        );
      }
      grant = found;
      nonce = found.nonce;
    } else {
      const token = form.get('refresh_token') ?? '';
      const found = this.refreshTokens.get(token);
      this.refreshTokens.delete(token); // rotated: each refresh token works once
      if (!found || found.expiresAt < this.now() || found.tenant !== tenant || found.clientId !== clientId) {
        return (
          error(400, 'invalid_grant', 'The refresh token is unknown, expired or used. Sign in again.'),
          true
        );
      }
      const scope = form.get('scope');
      const requested = scope ? resourceScopes(scope) : { resource: found.resource, scopes: found.scopes };
      if (typeof requested === 'string') return (error(400, 'invalid_scope', requested), true);
      grant = { ...found, ...requested };
    }

    const { user } = grant;
    const refreshToken = randomBytes(32).toString('base64url');
    this.refreshTokens.set(refreshToken, { ...grant, expiresAt: this.now() + REFRESH_LIFETIME_MS });
    const accessToken = await this.minter.mintToken({
      tenant,
      upn: user.upn,
      ...(user.name ? { name: user.name } : {}),
      ...(user.onPremisesSid ? { onPremisesSid: user.onPremisesSid } : {}),
      ...(user.roles?.length ? { roles: user.roles } : {}),
      audience: grant.resource,
      appId: clientId,
      ...(grant.scopes.length ? { scopes: grant.scopes } : {}),
    });
    const idToken = await this.minter.mintIdToken({
      tenant,
      upn: user.upn,
      clientId,
      ...(user.name ? { name: user.name } : {}),
      ...(nonce ? { nonce } : {}),
      ...(user.roles?.length ? { roles: user.roles } : {}),
    });
    sendJson(
      response,
      200,
      {
        token_type: 'Bearer',
        scope: grant.scopes.map((s) => `${grant.resource}/${s}`).join(' ') || `${grant.resource}/.default`,
        expires_in: DEFAULT_LIFETIME_SECONDS,
        ext_expires_in: DEFAULT_LIFETIME_SECONDS,
        access_token: accessToken,
        refresh_token: refreshToken,
        refresh_token_expires_in: REFRESH_LIFETIME_MS / 1000,
        id_token: idToken,
        client_info: Buffer.from(
          JSON.stringify({ uid: userObjectId(tenant, user.upn), utid: tenant }),
        ).toString('base64url'),
      },
      noStore,
    );
    return true;
  }

  private errorPage(response: ServerResponse, error: string, description: string): void {
    response.writeHead(400, signInPageHeaders());
    response.end(signInErrorPage(error, description));
  }
}

/** The request's `Origin` header, if any. */
export function originOf(request: IncomingMessage): string | undefined {
  const origin = request.headers.origin;
  return typeof origin === 'string' && origin !== 'null' ? origin : undefined;
}
