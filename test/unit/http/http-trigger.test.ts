import { test } from 'node:test';
import assert from 'node:assert/strict';
import functions, { type HttpResponseInit } from '@azure/functions';
import { healthRoute, rolloverKeysRoute, whoAmIRoute } from '../../../shared/api/routes.js';
import type { Caller } from '../../../shared/auth/index.js';
import { httpTrigger, type Authenticator } from '../../../shared/http/http-trigger.js';

// @azure/functions is CommonJS: its classes are reached through the default export.
const { HttpRequest, InvocationContext } = functions;
const TENANT = 'contoso';

// The settings the config loader requires (as in test/unit/config), without telemetry: the binding
// reports every request to the process's (here disabled) telemetry.
Object.assign(process.env, {
  AUTH_ISSUER: 'http://127.0.0.1:7072/{tenantId}/v2.0',
  AUTH_AUDIENCE: 'api://writeback',
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  ServiceBusConnection: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=Root;SharedAccessKey=key',
  KEYVAULT_URI: 'https://127.0.0.1:8443',
});
delete process.env.APPLICATIONINSIGHTS_CONNECTION_STRING;

function authenticatorFor(roles: string[]): Authenticator {
  return {
    authenticate: async (_authorization, tenantId): Promise<Caller> => ({
      tenantId,
      objectId: 'oid-1',
      roles,
    }),
  };
}

async function invoke(
  options: ReturnType<typeof httpTrigger>,
  url: string,
  params: Record<string, string>,
  body?: unknown,
): Promise<HttpResponseInit> {
  const request = new HttpRequest({
    method: 'POST',
    url,
    headers: {
      authorization: 'Bearer token',
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    params,
    ...(body !== undefined ? { body: { string: JSON.stringify(body) } } : {}),
  });
  const context = new InvocationContext({ invocationId: 'inv-1', functionName: 'test' });
  return (await options.handler(request, context)) as HttpResponseInit;
}

test('a role route refuses a token without the role with 403, before its handler runs', async () => {
  let handled = 0;
  const options = httpTrigger(
    rolloverKeysRoute,
    async () => {
      handled += 1;
      return { status: 200 };
    },
    authenticatorFor(['Some.Other.Role']),
  );
  const url = `http://localhost/api/tenants/${TENANT}/writeback/keys/rollover`;
  // Even a body the route would reject as invalid is not read: who may call is checked first.
  for (const body of [{ reason: 'suspected compromise' }, { reason: 42 }]) {
    const response = await invoke(options, url, { tenantId: TENANT }, body);
    assert.equal(response.status, 403);
    const problem = response.jsonBody as { code: string; detail: string };
    assert.equal(problem.code, 'Forbidden');
    assert.match(problem.detail, /Writeback\.Admin/);
  }
  assert.equal(handled, 0);
});

test('a role route runs its handler, with the caller, for a token with the role', async () => {
  const callers: Caller[] = [];
  const options = httpTrigger(
    rolloverKeysRoute,
    async ({ caller }) => {
      callers.push(caller);
      return { status: 200 };
    },
    authenticatorFor(['Writeback.Admin']),
  );
  const url = `http://localhost/api/tenants/${TENANT}/writeback/keys/rollover`;
  const response = await invoke(options, url, { tenantId: TENANT }, { reason: 'drill' });
  assert.equal(response.status, 200);
  assert.deepEqual(
    callers.map((c) => c.roles),
    [['Writeback.Admin']],
  );
});

test('a tenant route accepts any token of the tenant; an anonymous route has no caller', async () => {
  const tenant = httpTrigger(
    whoAmIRoute,
    async ({ caller }) => ({ status: 200, jsonBody: caller }),
    authenticatorFor([]),
  );
  const answered = await invoke(tenant, `http://localhost/api/tenants/${TENANT}/me`, { tenantId: TENANT });
  assert.equal(answered.status, 200);
  assert.equal((answered.jsonBody as Caller).objectId, 'oid-1');

  const anonymous = httpTrigger(healthRoute, async (input) => ({
    status: 200,
    jsonBody: { hasCaller: 'caller' in input },
  }));
  const health = await invoke(anonymous, 'http://localhost/api/health', {});
  assert.deepEqual(health.jsonBody, { hasCaller: false });
  // The type says the same: a handler of an anonymous route cannot read a caller.
  // @ts-expect-error no caller on an anonymous route
  httpTrigger(healthRoute, async ({ caller }) => ({ status: 200, jsonBody: caller }));
});
