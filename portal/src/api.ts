/**
 * The portal's client of the public HTTP API (docs/api.md): bearer token, JSON, problem+json answers,
 * and a 202 followed through the operation's `Location` until the operation ends.
 */
import type { Auth } from './auth.js';
import type { Problem } from './messages.js';

export type Answer<T> =
  | { ok: true; status: number; body: T; location?: string }
  | { ok: false; status: number; problem: Problem; retryAfterSeconds?: number };

export interface OperationAnswer {
  operationId: string;
  status: 'succeeded' | 'pending' | 'failed' | 'expired';
  completedAt?: string;
  temporaryPassword?: string;
  error?: Problem;
}

/** How long each poll of a pending operation waits at the API (the route allows up to 60 s). */
const POLL_WAIT_SECONDS = 20;
/** A pending operation ends by its expiry (minutes); after this the page stops following it. */
const FOLLOW_LIMIT_MS = 10 * 60_000;

const networkProblem = (): Problem => ({ code: 'NetworkError', status: 0 });

export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly auth: Auth,
  ) {}

  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer<T>> {
    return this.send<T>(method, `${this.baseUrl}${path}`, body, headers);
  }

  /**
   * A password operation: the answer, or, after a 202, the operation's final state. `onPending` is told
   * when the answer takes longer than the API's synchronous wait.
   */
  async operation(
    tenantId: string,
    path: string,
    body: unknown,
    onPending: () => void,
  ): Promise<Answer<OperationAnswer>> {
    // The same key for a retry of this request, so that a repeat never applies twice.
    const first = await this.call<OperationAnswer>('POST', path, body, {
      'Idempotency-Key': crypto.randomUUID(),
    });
    if (!first.ok || first.status !== 202) return first;
    onPending();
    const temporaryPassword = first.body.temporaryPassword;
    // Location is a path on the API's host; without it (a proxy dropped it) the id names the operation.
    const location = new URL(
      first.location ??
        `${this.baseUrl}/tenants/${encodeURIComponent(tenantId)}/operations/${first.body.operationId}`,
      this.baseUrl,
    );
    location.searchParams.set('waitSeconds', String(POLL_WAIT_SECONDS));
    const until = Date.now() + FOLLOW_LIMIT_MS;
    while (Date.now() < until) {
      const polled = await this.send<OperationAnswer>('GET', location.href);
      if (!polled.ok) return polled;
      const state = polled.body;
      if (state.status === 'succeeded') {
        return {
          ok: true,
          status: 200,
          body: { ...state, ...(temporaryPassword ? { temporaryPassword } : {}) },
        };
      }
      if (state.status === 'failed' || state.status === 'expired') {
        return {
          ok: false,
          status: state.error?.status ?? 500,
          problem: state.error ?? { code: 'AgentFailure' },
        };
      }
    }
    return { ok: false, status: 0, problem: { code: 'StillPending' } };
  }

  private async send<T>(
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer<T>> {
    const token = await this.auth.token();
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        cache: 'no-store',
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
      });
    } catch {
      return { ok: false, status: 0, problem: networkProblem() };
    }
    const location = response.headers.get('location') ?? undefined;
    const retryAfter = Number(response.headers.get('retry-after'));
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (response.ok)
      return { ok: true, status: response.status, body: parsed as T, ...(location ? { location } : {}) };
    const problem =
      parsed && typeof parsed === 'object' && typeof (parsed as Problem).code === 'string'
        ? (parsed as Problem)
        : { code: response.status === 401 ? 'Unauthenticated' : 'HttpError', status: response.status };
    return {
      ok: false,
      status: response.status,
      problem,
      ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterSeconds: retryAfter } : {}),
    };
  }
}
