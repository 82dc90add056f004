/** `PUT | GET | DELETE /api/tenants/{tenantId}/writeback` (role Writeback.Admin): thin bindings to shared/tenants. */
import { app } from '@azure/functions';
import { disableWritebackRoute, enableWritebackRoute, getWritebackRoute } from '../shared/api/index.js';
import { actorOf } from '../shared/auth/index.js';
import { httpTrigger } from '../shared/http/index.js';
import { writebackTenants } from '../shared/tenants/index.js';

// Configurations name keys and queues, and a 201 carries the agent's secrets: never cached.
const NO_STORE = { 'cache-control': 'no-store' };

app.http(
  enableWritebackRoute.name,
  httpTrigger(enableWritebackRoute, async ({ params, caller, request, context }) => {
    const outcome = await writebackTenants().enable(params.tenantId, actorOf(caller), context);
    if (!outcome.created) return { status: 200, headers: NO_STORE, jsonBody: outcome.configuration };
    return {
      status: 201,
      headers: { ...NO_STORE, location: new URL(request.url).pathname },
      jsonBody: { ...outcome.configuration, agentConnectionStrings: outcome.agentConnectionStrings },
    };
  }),
);

app.http(
  getWritebackRoute.name,
  httpTrigger(getWritebackRoute, async ({ params, context }) => {
    return {
      status: 200,
      headers: NO_STORE,
      jsonBody: await writebackTenants().configuration(params.tenantId, context),
    };
  }),
);

app.http(
  disableWritebackRoute.name,
  httpTrigger(disableWritebackRoute, async ({ params, caller, context }) => {
    return {
      status: 200,
      headers: NO_STORE,
      jsonBody: await writebackTenants().disable(params.tenantId, actorOf(caller), context),
    };
  }),
);
