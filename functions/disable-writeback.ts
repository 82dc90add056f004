/** `DELETE …/writeback` (role Writeback.Admin): disables writeback and revokes everything the agent holds. */
import { app } from '@azure/functions';
import { disableWritebackRoute } from '../shared/api/index.js';
import { actorOf } from '../shared/auth/index.js';
import { httpTrigger, NO_STORE } from '../shared/http/index.js';
import { writebackTenants } from '../shared/tenants/index.js';

app.http(
  disableWritebackRoute.name,
  httpTrigger(disableWritebackRoute, async ({ params, caller, context }) => ({
    status: 200,
    headers: NO_STORE,
    jsonBody: await writebackTenants().disable(params.tenantId, actorOf(caller), context),
  })),
);
