/**
 * Property-based fuzzing of every route of the contract, against the whole local pipeline with its
 * agent online: malformed requests (malformed-requests.ts) are always refused with the answer of the
 * first check they fail (a 4xx problem naming what is wrong, or the host's empty 404 for a method or
 * path no function serves), and nothing is sent: no row in `operations`, nothing received by the
 * agent, nothing left on the tenant's queue, no other table row or queue changed. No password (each
 * carries a canary) comes back in an answer or reaches the host's or the agent's log.
 *
 * Runs are seeded, so a failure replays: FUZZ_SEED and FUZZ_PATH (both printed on failure) replay one
 * counterexample; FUZZ_RUNS sets the runs per route.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { apiRoutes, type RouteContract } from '../../../shared/api/index.js';
import type { HttpAnswer } from '../../support/pipeline.js';
import {
  assertProblem,
  everyEntity,
  operationRowKeys,
  receivedOperations,
  refusedWithoutEffect,
  rejectedAuthorizations,
  startOperationsPipeline,
  type OperationsPipeline,
  type RejectedAuthorization,
} from '../operations/support.js';
import {
  CANARY,
  malformedRequests,
  pathOf,
  type FuzzTarget,
  type MalformedRequest,
  type Refusal,
  type RequestPlan,
} from './malformed-requests.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_613);
const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const PATH = process.env.FUZZ_PATH;

function assertRefused(answer: HttpAnswer, expected: Refusal, what: string): void {
  const why = `${what}: ${answer.status} ${answer.text.slice(0, 500)}`;
  if (expected.code === undefined) {
    assert.equal(answer.status, expected.status, why);
    assert.equal(answer.text, '', why);
    return;
  }
  assertProblem(answer, expected.status, expected.code, { what });
  assert.equal(answer.headers.get('cache-control'), 'no-store', why);
  if (expected.detail) assert.match(String(answer.body.detail), expected.detail, why);
  if (expected.errorPath) {
    const paths = ((answer.body.errors ?? []) as { path: string }[]).map((e) => e.path);
    assert.ok(paths.includes(expected.errorPath), `${why}: errors should list ${expected.errorPath}`);
  }
}

function assertNoCanary(text: string, where: string): void {
  assert.ok(!text.includes(CANARY), `a password (the canary) appears in ${where}`);
}

describe('fuzzed requests: every route refuses malformed input and sends nothing', () => {
  let o: OperationsPipeline;
  let target: FuzzTarget;
  let rejected: RejectedAuthorization[];
  const tokens = new Map<string, Promise<string>>();
  const cached = (key: string, mint: () => Promise<string>) => {
    if (!tokens.has(key)) tokens.set(key, mint());
    return tokens.get(key)!;
  };

  /** The Authorization header of a plan, minted for the route's tenant when that is a valid one. */
  async function authorizationOf(route: RouteContract, plan: RequestPlan): Promise<string | undefined> {
    const tenant = plan.tenantId === target.unenabledTenantId ? plan.tenantId : target.tenantId;
    const user = () => cached(`user ${tenant}`, () => o.p.token({ tenant, user: `alice@${tenant}.test` }));
    const admin = () =>
      cached(`admin ${tenant}`, () => o.p.token({ tenant, user: `admin@${tenant}.test`, admin: true }));
    const c = plan.credentials;
    switch (c.kind) {
      case 'none':
        return undefined;
      case 'user':
        return `Bearer ${await user()}`;
      case 'admin':
        return `Bearer ${await admin()}`;
      case 'other-tenant': {
        const other = target.otherTenantId;
        const token = await cached(`${other} ${c.admin}`, () =>
          o.p.token({ tenant: other, user: `admin@${other}.test`, admin: c.admin }),
        );
        return `Bearer ${token}`;
      }
      case 'claims': {
        const token = await cached(JSON.stringify([tenant, c]), () =>
          o.p.cloud.identity.mintToken({
            tenant,
            oid: randomUUID(),
            ...(c.upn !== undefined ? { upn: c.upn } : {}),
            ...(c.sid !== undefined ? { onPremisesSid: c.sid } : {}),
          }),
        );
        return `Bearer ${token}`;
      }
      case 'rejected':
        return rejected[c.index]!.authorization;
      case 'mutated': {
        const token = await (route.access.kind === 'role' ? admin() : user());
        // Not the signature's last character: its spare bits may not change the decoded bytes.
        const at = c.at % (token.length - 1);
        const char = c.char !== token[at] ? c.char : c.char === 'A' ? 'B' : 'A';
        return `Bearer ${token.slice(0, at)}${char}${token.slice(at + 1)}`;
      }
      case 'header':
        return c.value;
    }
  }

  /**
   * What must not change: every table row (by ETag) and the queues, but the agent's heartbeats and
   * the audit rows of refusals (a request to a tenant never enabled is audited, by design).
   */
  async function snapshot(): Promise<string[]> {
    const rows = (await everyEntity(o.p.cloud))
      .filter(
        ({ table, entity }) => table !== 'heartbeats' && !(table === 'audit' && entity.outcome === 'refused'),
      )
      .map(({ table, entity }) => `${table}/${entity.partitionKey}/${entity.rowKey} ${entity.etag}`);
    const queues: string[] = [];
    for await (const queue of o.p.cloud.serviceBusAdmin.listQueues()) queues.push(`queue ${queue.name}`);
    return [...rows, ...queues].sort();
  }

  before(async () => {
    o = await startOperationsPipeline();
    rejected = await rejectedAuthorizations(o.p);
    target = {
      tenantId: o.tenantId,
      otherTenantId: 'fabrikam',
      unenabledTenantId: 'fuzz-never-enabled',
      targetUser: `bob@${o.tenantId}.test`,
      rejectedDetails: rejected.map((r) => r.detail),
      routes: apiRoutes,
    };
  });
  after(() => o?.stop());

  for (const route of apiRoutes) {
    test(`${route.method} /api/${route.route} (${route.access.kind})`, async () => {
      await refusedWithoutEffect(o, async () => {
        const rowsBefore = await operationRowKeys(o.p.cloud);
        const stateBefore = await snapshot();
        const property = fc.asyncProperty(
          malformedRequests(route, target),
          async (request: MalformedRequest) => {
            const { plan, expected } = request;
            const path = pathOf(route, plan);
            const what = `${request.defects.join(' + ')} (${plan.method} ${path.slice(0, 200)})`;
            const logFrom = o.p.agentLogs().length;
            const authorization = await authorizationOf(route, plan);
            const answer = await o.p.call(plan.method, path, {
              headers: {
                ...plan.headers,
                ...(authorization !== undefined ? { authorization } : {}),
                ...(plan.body?.contentType ? { 'content-type': plan.body.contentType } : {}),
              },
              ...(plan.body ? { rawBody: plan.body.data } : {}),
            });
            assertRefused(answer, expected, what);
            assertNoCanary(answer.text, `the answer to ${what}`);
            assertNoCanary([...answer.headers].join('\n'), `the headers of the answer to ${what}`);
            // An operation row is written before its request is sent: no row, nothing sent.
            assert.deepEqual(
              await operationRowKeys(o.p.cloud),
              rowsBefore,
              `an operation was recorded: ${what}`,
            );
            assert.deepEqual(receivedOperations(o.p, logFrom), [], `the agent received a request: ${what}`);
          },
        );
        try {
          await fc.assert(property, { numRuns: RUNS, seed: SEED, ...(PATH ? { path: PATH } : {}) });
        } catch (error) {
          // fast-check keeps the assertion's message in `cause`; the runner shows only the message.
          const { message, cause } = error as Error;
          throw new Error(`${message}\n${cause instanceof Error ? cause.message : ''}`, { cause });
        }
        assert.deepEqual(await snapshot(), stateBefore, 'a table row or a queue changed');
      });
      assertNoCanary(o.p.cloud.host.output(), "the host's log");
      assertNoCanary(o.p.agentLogs().join('\n'), "the agent's log");
    });
  }
});
