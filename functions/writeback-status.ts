/** `GET /api/tenants/{tenantId}/writeback/status` (any token of the tenant): thin binding to shared/heartbeats. */
import { app } from '@azure/functions';
import { writebackStatusRoute } from '../shared/api/index.js';
import { heartbeatMonitor } from '../shared/heartbeats/index.js';
import { httpTrigger, NO_STORE } from '../shared/http/index.js';

app.http(
  writebackStatusRoute.name,
  httpTrigger(writebackStatusRoute, async ({ params, context }) => ({
    status: 200,
    headers: NO_STORE,
    jsonBody: await heartbeatMonitor().status(params.tenantId, context),
  })),
);
