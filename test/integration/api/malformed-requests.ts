/**
 * Requests the API must refuse, generated with fast-check for one route of the contract
 * (shared/api/routes.ts): a valid request of the route with one to three defects, each caught by a
 * different check, and the answer of the first check that fails. The checks, in the order they run:
 *
 * - host:    the Functions host's routing: a method or path no function serves is 404 with an empty
 *            body (docs/api.md), the host's own answer, not a problem;
 * - route, token, access, query, headers, body: shared/http/http-trigger.ts, in that order;
 * - caller:  the me/ password routes, the on-premises user the token names (shared/auth/caller.ts);
 * - state:   the handler: writeback never enabled for the tenant (409), an unknown operation (404).
 *
 * Every invalid value is built to be invalid (not drawn and then filtered through the product's own
 * schemas), so the generators are a second, independent statement of the contract. Passwords carry
 * CANARY so that a test can tell whether one leaked.
 */
import fc from 'fast-check';
import type { RouteContract } from '../../../shared/api/index.js';

/** Part of every password the generators send; it must never come back or reach a log. */
export const CANARY = 'Fuzz-Canary-9xQ7';

export type Check = 'host' | 'route' | 'token' | 'access' | 'query' | 'headers' | 'body' | 'caller' | 'state';
const CHECK_ORDER: readonly Check[] = [
  'host',
  'route',
  'token',
  'access',
  'query',
  'headers',
  'body',
  'caller',
  'state',
];

/** The token a request carries, minted by the test (the generators have no identity provider). */
export type Credentials =
  | { kind: 'none' }
  | { kind: 'user' }
  | { kind: 'admin' }
  | { kind: 'other-tenant'; admin: boolean }
  /** A user token of the route's tenant whose on-premises claims are these (no upn, no sid: neither). */
  | { kind: 'claims'; upn?: string; sid?: string }
  /** The n-th of the test's rejected Authorization headers. */
  | { kind: 'rejected'; index: number }
  /** A valid token of the route's access with one character replaced (never the signature's last). */
  | { kind: 'mutated'; at: number; char: string }
  | { kind: 'header'; value: string };

export interface RequestPlan {
  method: string;
  tenantId: string;
  upn: string;
  operationId: string;
  /** A path segment after the route's own, which no route has. */
  extraSegment?: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  credentials: Credentials;
  body?: { data: string | Uint8Array; contentType?: string };
}

/** The answer a refused request gets. */
export interface Refusal {
  status: number;
  /** The problem's code; undefined: the host's 404 with an empty body. */
  code?: string;
  /** What the problem's detail must say. */
  detail?: RegExp;
  /** A path the problem's `errors` must list. */
  errorPath?: string;
}

export interface MalformedRequest {
  plan: RequestPlan;
  /** What is wrong with it, first check first. */
  defects: string[];
  expected: Refusal;
}

/** Where the generated requests go. */
export interface FuzzTarget {
  /** Enabled, its agent online: every request that got through would reach the agent. */
  tenantId: string;
  /** Another tenant, for tokens that are valid but not for this route. */
  otherTenantId: string;
  /** A valid tenant id that was never enabled. */
  unenabledTenantId: string;
  /** The UPN in users/{upn} routes. */
  targetUser: string;
  /** What the detail of each of the test's rejected Authorization headers says, by index. */
  rejectedDetails: readonly RegExp[];
  /** Every route, to know which methods a path has. */
  routes: readonly RouteContract[];
}

interface Defect {
  check: Check;
  what: string;
  refusal: Refusal;
  apply(plan: RequestPlan): void;
}

/** The body of a route that has one: its valid form and the fields the generators break. */
interface BodyShape {
  /** A valid body; undefined: the route takes none. */
  valid: Record<string, unknown> | undefined;
  /** The route accepts no body at all. */
  optional: boolean;
  passwords: { field: string; required: boolean }[];
  flags: string[];
  texts: { field: string; max: number }[];
}

const BODY_SHAPES: Record<string, BodyShape> = {
  resetMyPassword: {
    valid: { newPassword: `${CANARY}-new` },
    optional: false,
    passwords: [{ field: 'newPassword', required: true }],
    flags: [],
    texts: [],
  },
  changeMyPassword: {
    valid: { currentPassword: `${CANARY}-current`, newPassword: `${CANARY}-new` },
    optional: false,
    passwords: [
      { field: 'currentPassword', required: true },
      { field: 'newPassword', required: true },
    ],
    flags: [],
    texts: [],
  },
  resetUserPassword: {
    valid: { newPassword: `${CANARY}-new`, forceChangeAtNextLogon: true, unlock: false },
    optional: true,
    passwords: [{ field: 'newPassword', required: false }],
    flags: ['forceChangeAtNextLogon', 'unlock'],
    texts: [],
  },
  rolloverKeys: {
    valid: { reason: 'fuzzing' },
    optional: true,
    passwords: [],
    flags: [],
    texts: [{ field: 'reason', max: 200 }],
  },
  unlockMe: { valid: undefined, optional: true, passwords: [], flags: [], texts: [] },
  unlockUser: { valid: undefined, optional: true, passwords: [], flags: [], texts: [] },
};

/** Methods Node's HTTP parser accepts and fetch may send (it refuses CONNECT, TRACE and TRACK). */
const METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'PROPFIND',
  'MKCOL',
  'COPY',
  'MOVE',
  'LOCK',
  'UNLOCK',
  'REPORT',
  'SEARCH',
  'PURGE',
  'MERGE',
  'M-SEARCH',
  'NOTIFY',
  'SUBSCRIBE',
];

const TOKEN = /\btoken\b|Authorization/;
const json = (value: unknown) => ({ data: JSON.stringify(value), contentType: 'application/json' });

/** Inserts `piece` into `text` at `at` (modulo its length + 1). */
const insert = (text: string, piece: string, at: number) => {
  const i = at % (text.length + 1);
  return text.slice(0, i) + piece + text.slice(i);
};

const label = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/);
const alnum = (min: number, max: number) =>
  fc.string({
    unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'),
    minLength: min,
    maxLength: max,
  });
/** Printable ASCII without the space, which fetch would trim from a header's ends. */
const visible = (min: number, max: number) =>
  fc.string({
    unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    minLength: min,
    maxLength: max,
  });

/** Tenant ids the contract refuses: upper case, a replies name, a bad first or other character, too long. */
const badTenantIds = fc.oneof(
  fc
    .tuple(label, fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), fc.nat())
    .map(([l, c, at]) => insert(l, c, at)),
  fc.oneof(
    fc.constant('replies'),
    label.map((l) => `${l}-replies`),
  ),
  label.map((l) => `-${l}`),
  fc.stringMatching(/^[a-z0-9]{64,90}$/),
  fc
    .tuple(
      label,
      fc.constantFrom('_', '.', '~', ' ', '!', '@', ':', '+', '*', '/', '%', '?', '#', 'é', '😀', '\0'),
      fc.nat(),
    )
    .map(([l, c, at]) => insert(l, c, at)),
);

/** UPNs the contract refuses: not name@suffix, whitespace, over 1024 bytes. */
const badUpns = fc.oneof(
  // Not "." or "..": the URL would lose the segment, and the host answer 404 for the shorter path.
  fc.stringMatching(/^[a-z0-9._-]{1,30}$/).filter((s) => s !== '.' && s !== '..'),
  fc.tuple(label, label, label).map(([a, b, c]) => `${a}@${b}@${c}`),
  label.map((l) => `@${l}.test`),
  label.map((l) => `${l}@`),
  fc.tuple(fc.constantFrom(' ', '\t', '\n'), fc.nat()).map(([c, at]) => insert('bob@contoso.test', c, at)),
  fc.integer({ min: 1012, max: 1400 }).map((n) => `${'a'.repeat(n)}@contoso.test`),
  fc.integer({ min: 340, max: 400 }).map((n) => `${'€'.repeat(n)}@contoso.test`),
);

/** Operation ids that are not lower-case UUIDs. */
const badOperationIds = fc.oneof(
  fc
    .uuid()
    .filter((u) => /[a-f]/.test(u))
    .map((u) => u.toUpperCase()),
  fc.uuid().map((u) => u.replaceAll('-', '')),
  fc.uuid().map((u) => `{${u}}`),
  fc.tuple(fc.uuid(), alnum(1, 3)).map(([u, s]) => u + s),
  fc
    .tuple(alnum(1, 40), fc.constantFrom('g', 'z', '_', '.', '~', 'G'), fc.nat())
    .map(([s, c, at]) => insert(s, c, at)),
);

/** The whole-number query parameter of each route that has one, and its range. */
const QUERY_RANGES: Record<string, [number, number]> = { waitSeconds: [0, 60], top: [1, 200] };

/** The route's query parameter (its schema's one key) and range. */
function queryParameterOf(route: RouteContract): { name: string; min: number; max: number } | undefined {
  const shape = (route.query as unknown as { shape?: Record<string, unknown> } | undefined)?.shape;
  const name = shape ? Object.keys(shape)[0] : undefined;
  const range = name ? QUERY_RANGES[name] : undefined;
  return name && range ? { name, min: range[0], max: range[1] } : undefined;
}

/** Values that are not a whole number from `min` to `max`. */
const badWholeNumbers = (min: number, max: number) =>
  fc.oneof(
    fc.integer({ min: -1_000_000, max: min - 1 }).map(String),
    fc.integer({ min: max + 1, max: 1_000_000_000 }).map(String),
    fc.tuple(fc.integer({ min, max }), fc.integer({ min: 1, max: 9 })).map(([a, b]) => `${a}.${b}`),
    // Any of these letters makes Number() NaN (none is a hex digit, an exponent or in "Infinity").
    fc
      .tuple(alnum(0, 8), fc.constantFrom('g', 'k', 'm', 's', 'z', '_', '!', '~'), fc.nat())
      .map(([s, c, at]) => insert(s, c, at)),
    fc
      .constantFrom('1e3', '0x41', '-0.5', 'NaN', 'Infinity', '-Infinity', `${max}.000001`)
      .filter((v) => !(Number.isInteger(Number(v)) && Number(v) >= min && Number(v) <= max)),
  );

/**
 * Idempotency-Key values over 255 characters. Not the empty one: the Functions host leaves out empty
 * headers (the Node worker asks it to), so an empty key is no key.
 */
const badIdempotencyKeys = visible(256, 600);

/** A password out of 1–256 code points, or not well-formed Unicode; every one carries the canary. */
const badPasswords = fc.oneof(
  fc.constant(''),
  fc
    .string({ unit: fc.constantFrom('x', 'é', '中', '😀'), minLength: 257 - CANARY.length, maxLength: 320 })
    .map((s) => CANARY + s),
  fc
    .tuple(fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff'), fc.nat())
    .map(([c, at]) => insert(CANARY, c, at)),
);

/** JSON values of another type than a string (for `string`) or a boolean. */
const notA = (type: 'string' | 'boolean') =>
  fc.oneof(
    fc.integer(),
    fc.constant(null),
    fc.constant([CANARY]),
    fc.constant({ value: CANARY }),
    type === 'string' ? fc.boolean() : fc.constantFrom('true', 'false', CANARY),
  );

/** Content types that are not JSON (the API takes application/json and application/*+json). */
const notJsonTypes = fc.constantFrom(
  'text/plain',
  'text/json',
  'application/xml',
  'application/x-www-form-urlencoded',
  'application/octet-stream',
  'multipart/form-data; boundary=fuzz',
  'application/jsonp',
  'application/json5',
);

/** Byte sequences that are not UTF-8: stray continuation, overlong, surrogate, truncated, 0xFF. */
const notUtf8 = fc.constantFrom(
  [0x80],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0xff],
  [0xf5, 0x80, 0x80, 0x80],
);

function bodyDefects(shape: BodyShape): fc.Arbitrary<Defect>[] {
  const valid = shape.valid ?? { newPassword: CANARY };
  const text = JSON.stringify(valid);
  const body = (what: string, detail: RegExp, apply: Defect['apply'], errorPath?: string): Defect => ({
    check: 'body',
    what,
    refusal: { status: 400, code: 'InvalidRequest', detail, ...(errorPath ? { errorPath } : {}) },
    apply,
  });
  const field = (what: string, name: string, value: unknown | undefined) =>
    body(
      what,
      /\bbody\b/,
      (plan) => {
        const copy: Record<string, unknown> = { ...valid };
        if (value === undefined) delete copy[name];
        else copy[name] = value;
        plan.body = json(copy);
      },
      `body.${name}`,
    );
  const known = new Set([...Object.keys(shape.valid ?? {})]);
  const defects: fc.Arbitrary<Defect>[] = [
    // Not JSON: cut short, or followed by more, or nothing at all with a JSON content type.
    fc
      .oneof(
        fc.integer({ min: 0, max: text.length - 1 }).map((n) => text.slice(0, n)),
        fc.constantFrom('}', ',', ']', 'x', '{}').map((more) => text + more),
        visible(1, 40).map((junk) => `{${junk}`),
      )
      // The junk could happen to close the object ("{}"): JSON.parse, the standard, says what is JSON.
      .filter((data) => {
        try {
          JSON.parse(data);
          return false;
        } catch {
          return true;
        }
      })
      .map((data) =>
        body(
          'malformed JSON',
          /not valid JSON/,
          (plan) => (plan.body = { data, contentType: 'application/json' }),
        ),
      ),
    notJsonTypes.map((contentType) =>
      body(`sent as ${contentType}`, /must be JSON/, (plan) => (plan.body = { data: text, contentType })),
    ),
    // Bytes without a content type: fetch adds none.
    fc.constant(
      body(
        'no content type',
        /must be JSON/,
        (plan) => (plan.body = { data: new TextEncoder().encode(text) }),
      ),
    ),
    fc.tuple(notUtf8, fc.nat()).map(([bad, at]) => {
      const bytes = new TextEncoder().encode(text);
      const i = at % (bytes.length + 1);
      const data = new Uint8Array([...bytes.subarray(0, i), ...bad, ...bytes.subarray(i)]);
      return body(
        'not UTF-8',
        /not valid UTF-8/,
        (plan) => (plan.body = { data, contentType: 'application/json' }),
      );
    }),
    fc
      .integer({ min: 16 * 1024 + 1, max: 40_000 })
      .map((n) =>
        body(
          `${n} bytes`,
          /larger than 16384 bytes/,
          (plan) => (plan.body = json({ ...valid, newPassword: CANARY + 'x'.repeat(n) })),
        ),
      ),
    fc
      .oneof(fc.constant(null), fc.integer(), fc.boolean(), fc.constant(CANARY), fc.constant([valid]))
      .map((value) =>
        body(
          `a JSON ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`,
          /\bbody\b/,
          (plan) => (plan.body = json(value)),
          'body',
        ),
      ),
    // Arrays nested thousands deep, within 16 KiB: the parser must not run out of stack.
    fc
      .integer({ min: 1000, max: 8000 })
      .map((depth) =>
        body(
          `arrays ${depth} deep`,
          /\bbody\b/,
          (plan) =>
            (plan.body = { data: '['.repeat(depth) + ']'.repeat(depth), contentType: 'application/json' }),
          'body',
        ),
      ),
    fc
      .oneof(
        fc.constantFrom('__proto__', 'constructor', 'password', 'NewPassword', 'new_password'),
        alnum(1, 20),
      )
      .filter((key) => !known.has(key))
      .map((key) =>
        body(
          `unknown field ${key}`,
          /\bbody\b/,
          (plan) => {
            // Defined, not assigned: assigning __proto__ would set the prototype instead of a field.
            const data = { ...(shape.valid ?? {}) };
            Object.defineProperty(data, key, { value: CANARY, enumerable: true });
            plan.body = json(data);
          },
          'body',
        ),
      ),
  ];
  if (!shape.optional) {
    defects.push(fc.constant(body('no body', /\bbody\b/, (plan) => delete plan.body, 'body')));
  }
  for (const { field: name, required } of shape.passwords) {
    defects.push(badPasswords.map((p) => field(`${name} of ${[...p].length} code points`, name, p)));
    defects.push(notA('string').map((v) => field(`${name} ${JSON.stringify(v)}`, name, v)));
    if (required) defects.push(fc.constant(field(`no ${name}`, name, undefined)));
  }
  for (const name of shape.flags) {
    defects.push(notA('boolean').map((v) => field(`${name} ${JSON.stringify(v)}`, name, v)));
  }
  for (const { field: name, max } of shape.texts) {
    defects.push(
      fc
        .oneof(fc.constant(''), visible(max + 1, max + 100), notA('string'))
        .map((v) =>
          field(
            `${name} ${typeof v === 'string' ? `of ${v.length} characters` : JSON.stringify(v)}`,
            name,
            v,
          ),
        ),
    );
  }
  return defects;
}

/** Requests of `route` that the API must refuse, with the answer they must get. */
export function malformedRequests(route: RouteContract, target: FuzzTarget): fc.Arbitrary<MalformedRequest> {
  const shape = route.body ? BODY_SHAPES[route.name] : undefined;
  if (route.body && !shape) throw new Error(`No body shape for route ${route.name}: add it to BODY_SHAPES.`);
  const served = new Set<string>(target.routes.filter((r) => r.route === route.route).map((r) => r.method));
  const hasParam = (name: string) => route.route.includes(`{${name}}`);
  const isPasswordRoute = route.headers !== undefined;
  const isMeRoute = isPasswordRoute && route.route.includes('/me/');

  const defect = (check: Check, what: string, refusal: Refusal, apply: Defect['apply']): Defect => ({
    check,
    what,
    refusal,
    apply,
  });
  const invalid = (where: string, errorPath: string) => ({
    status: 400,
    code: 'InvalidRequest',
    detail: new RegExp(`\\b${where}\\b`),
    errorPath,
  });
  const notFoundByHost: Refusal = { status: 404 };

  const hostDefects: fc.Arbitrary<Defect>[] = [
    fc
      .constantFrom(...METHODS.filter((m) => !served.has(m)))
      .map((method) => defect('host', `method ${method}`, notFoundByHost, (plan) => (plan.method = method))),
    alnum(1, 12).map((s) =>
      defect(
        'host',
        `extra segment x-fuzz-${s}`,
        notFoundByHost,
        (plan) => (plan.extraSegment = `x-fuzz-${s}`),
      ),
    ),
  ];
  const defects: fc.Arbitrary<Defect>[] = [];
  if (hasParam('tenantId')) {
    defects.push(
      badTenantIds.map((id) =>
        defect(
          'route',
          `tenant id ${JSON.stringify(id)}`,
          invalid('route', 'route.tenantId'),
          (plan) => (plan.tenantId = id),
        ),
      ),
    );
  }
  if (hasParam('upn')) {
    defects.push(
      badUpns.map((upn) =>
        defect(
          'route',
          `upn ${JSON.stringify(upn.slice(0, 40))}`,
          invalid('route', 'route.upn'),
          (plan) => (plan.upn = upn),
        ),
      ),
    );
  }
  if (hasParam('operationId')) {
    defects.push(
      badOperationIds.map((id) =>
        defect(
          'route',
          `operation id ${JSON.stringify(id)}`,
          invalid('route', 'route.operationId'),
          (plan) => (plan.operationId = id),
        ),
      ),
    );
  }
  if (route.access.kind !== 'anonymous') {
    const unauthenticated = (detail: RegExp): Refusal => ({ status: 401, code: 'Unauthenticated', detail });
    defects.push(
      fc.nat(target.rejectedDetails.length - 1).map((index) =>
        defect(
          'token',
          `rejected token #${index}`,
          unauthenticated(target.rejectedDetails[index]!),
          (plan) => {
            plan.credentials = { kind: 'rejected', index };
          },
        ),
      ),
      fc.tuple(fc.nat(), fc.constantFrom(...'AQgw_-.=!+/ 0z')).map(([at, char]) =>
        defect('token', `token with ${JSON.stringify(char)} at ${at}`, unauthenticated(TOKEN), (plan) => {
          plan.credentials = { kind: 'mutated', at, char };
        }),
      ),
      fc
        .oneof(
          fc.string({ maxLength: 200 }).map((s) => `Bearer ${s}`),
          fc.string({ maxLength: 60 }).map((s) => `${s} ${s}`),
          fc.integer({ min: 2000, max: 7000 }).map((n) => `Bearer ${'A'.repeat(n)}`),
        )
        .map((value) =>
          defect(
            'token',
            `Authorization ${JSON.stringify(value.slice(0, 40))}`,
            unauthenticated(TOKEN),
            (plan) => {
              plan.credentials = { kind: 'header', value };
            },
          ),
        ),
      fc
        .boolean()
        .map((admin) =>
          defect(
            'access',
            `a token of ${target.otherTenantId}${admin ? ' (admin)' : ''}`,
            { status: 403, code: 'Forbidden', detail: /another tenant/ },
            (plan) => (plan.credentials = { kind: 'other-tenant', admin }),
          ),
        ),
    );
  }
  if (route.access.kind === 'role') {
    defects.push(
      fc.constant(
        defect(
          'access',
          'no admin role',
          { status: 403, code: 'Forbidden', detail: /requires the role Writeback\.Admin/ },
          (plan) => (plan.credentials = { kind: 'user' }),
        ),
      ),
    );
  }
  const queryParameter = queryParameterOf(route);
  if (queryParameter) {
    const { name, min, max } = queryParameter;
    defects.push(
      badWholeNumbers(min, max).map((value) =>
        defect('query', `${name}=${JSON.stringify(value)}`, invalid('query', `query.${name}`), (plan) => {
          plan.query[name] = value;
        }),
      ),
    );
  }
  if (isPasswordRoute) {
    defects.push(
      badIdempotencyKeys.map((key) =>
        defect(
          'headers',
          `Idempotency-Key of ${key.length} characters`,
          invalid('headers', 'headers.idempotency-key'),
          (plan) => {
            plan.headers['idempotency-key'] = key;
          },
        ),
      ),
    );
  }
  if (shape) defects.push(...bodyDefects(shape));
  if (isMeRoute) {
    const claims = (what: string, credentials: Credentials) =>
      defect('caller', what, { status: 401, code: 'Unauthenticated', detail: /onprem_sid|upn/ }, (plan) => {
        plan.credentials = credentials;
      });
    defects.push(
      fc
        .oneof(
          alnum(1, 30).map((s) => `X-${s}`),
          label.map((l) => `S-1-${l}x`),
          fc.constantFrom(
            'S-1',
            'S-1-5',
            'S-1-5-21-',
            `S-1-${'9'.repeat(16)}-1`,
            's-1-5-21-1',
            'S-1-5-21-1 ',
          ),
        )
        .map((sid) =>
          claims(`onprem_sid ${JSON.stringify(sid)}`, {
            kind: 'claims',
            sid,
            upn: `alice@${target.tenantId}.test`,
          }),
        ),
      fc
        .oneof(
          fc.stringMatching(/^[a-z0-9._-]{1,30}$/),
          fc
            .tuple(fc.constantFrom(' ', '\t'), fc.nat())
            .map(([c, at]) => insert(`alice@${target.tenantId}.test`, c, at)),
          fc.constantFrom('\ud800', `alice\udc00@${target.tenantId}.test`),
          fc.integer({ min: 1012, max: 1400 }).map((n) => `${'a'.repeat(n)}@contoso.test`),
        )
        .map((upn) => claims(`token upn ${JSON.stringify(upn.slice(0, 40))}`, { kind: 'claims', upn })),
      fc.constant(claims('neither upn nor onprem_sid', { kind: 'claims' })),
    );
  }
  if (route.problems?.includes('WritebackDisabled')) {
    defects.push(
      fc.constant(
        defect(
          'state',
          `tenant ${target.unenabledTenantId} never enabled`,
          { status: 409, code: 'WritebackDisabled', detail: /not enabled|never been enabled/ },
          (plan) => (plan.tenantId = target.unenabledTenantId),
        ),
      ),
    );
  }
  // Operation ids are drawn afresh: the tenant has none of them.
  const unknownOperation: Defect | undefined = hasParam('operationId')
    ? defect(
        'state',
        'an operation the tenant does not have',
        { status: 404, code: 'NotFound', detail: /no operation/ },
        () => undefined,
      )
    : undefined;

  const noise = fc.record({
    operationId: fc.uuid(),
    traceparent: fc.option(
      fc.oneof(visible(1, 80), fc.constant('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')),
    ),
    extraHeader: fc.option(visible(1, 60)),
    extraQuery: fc.option(fc.tuple(alnum(1, 10), visible(0, 30))),
    idempotencyKey: fc.option(visible(1, 255)),
    ignoredBody: fc.option(visible(1, 200)),
    queryValue: fc.option(
      fc.integer({ min: queryParameter?.min ?? 0, max: queryParameter?.max ?? 0 }).map(String),
    ),
  });

  return fc
    .record({
      noise,
      // The host's 404 hides every other defect: drawn less often where there are others.
      defects: fc.uniqueArray(
        fc.oneof(
          ...hostDefects.map((arbitrary) => ({ arbitrary, weight: 1 })),
          ...defects.map((arbitrary) => ({ arbitrary, weight: 3 })),
        ),
        {
          minLength: unknownOperation ? 0 : 1,
          maxLength: 3,
          selector: (d) => d.check,
        },
      ),
    })
    .map(({ noise: n, defects: chosen }) => {
      const all = [...chosen, ...(unknownOperation ? [unknownOperation] : [])].sort(
        (a, b) => CHECK_ORDER.indexOf(a.check) - CHECK_ORDER.indexOf(b.check),
      );
      const plan: RequestPlan = {
        method: route.method,
        tenantId: target.tenantId,
        upn: target.targetUser,
        operationId: n.operationId,
        query: {},
        headers: {},
        credentials: {
          kind: route.access.kind === 'anonymous' ? 'none' : route.access.kind === 'role' ? 'admin' : 'user',
        },
        ...(shape?.valid ? { body: json(shape.valid) } : {}),
      };
      // Noise the API ignores: a bad trace context, unknown headers and query parameters, a valid
      // Idempotency-Key, a body on a route that reads none.
      if (n.traceparent !== null) plan.headers.traceparent = n.traceparent;
      if (n.extraHeader !== null) plan.headers['x-fuzz'] = n.extraHeader;
      if (n.extraQuery !== null && n.extraQuery[0] !== queryParameter?.name)
        plan.query[n.extraQuery[0]] = n.extraQuery[1];
      if (n.idempotencyKey !== null && isPasswordRoute) plan.headers['idempotency-key'] = n.idempotencyKey;
      if (n.ignoredBody !== null && !route.body && route.method !== 'GET')
        plan.body = { data: n.ignoredBody, contentType: 'text/plain' };
      if (n.queryValue !== null && queryParameter) plan.query[queryParameter.name] = n.queryValue;
      // The first check's defect is applied last, so that its value is the one sent.
      for (const d of [...all].reverse()) d.apply(plan);
      if (plan.method === 'GET' || plan.method === 'HEAD') delete plan.body;
      const defects = all.map((d) => d.what);
      // Counterexamples print as this line, not as the whole plan (bodies run to 40 kB).
      const summary = () => `${plan.method} ${pathOf(route, plan).slice(0, 200)}: ${defects.join(' + ')}`;
      return { plan, defects, expected: all[0]!.refusal, [fc.toStringMethod]: summary };
    });
}

/** The request's path under /api, with its values encoded. */
export function pathOf(route: RouteContract, plan: RequestPlan): string {
  const path = route.route
    .replace('{tenantId}', encodeURIComponent(plan.tenantId))
    .replace('{upn}', encodeURIComponent(plan.upn))
    .replace('{operationId}', encodeURIComponent(plan.operationId));
  const query = new URLSearchParams(plan.query).toString();
  return `/${path}${plan.extraSegment ? `/${plan.extraSegment}` : ''}${query ? `?${query}` : ''}`;
}
