/**
 * `PUT …/writeback` (role Writeback.Admin): enables writeback for the tenant. The 201 that completes
 * an enable carries the agent's connection strings, once.
 */
import { app } from '@azure/functions';
import { enableWritebackRoute } from '../shared/api/index.js';
import { actorOf } from '../shared/auth/index.js';
import { httpTrigger, NO_STORE } from '../shared/http/index.js';
import { writebackTenants } from '../shared/tenants/index.js';

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
