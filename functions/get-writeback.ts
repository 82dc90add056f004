/** `GET …/writeback` (role Writeback.Admin): the tenant's writeback configuration, keys and rollover. */
import { app } from '@azure/functions';
import { getWritebackRoute } from '../shared/api/index.js';
import { httpTrigger, NO_STORE } from '../shared/http/index.js';
import { writebackTenants } from '../shared/tenants/index.js';

app.http(
  getWritebackRoute.name,
  httpTrigger(getWritebackRoute, async ({ params, context }) => ({
    status: 200,
    headers: NO_STORE,
    jsonBody: await writebackTenants().configuration(params.tenantId, context),
  })),
);
