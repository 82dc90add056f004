/** `GET /api/tenants/{tenantId}/audit?top=N` (role Writeback.Admin): thin binding to shared/audit. */
import { app } from '@azure/functions';
import { auditRoute } from '../shared/api/index.js';
import { auditTrail } from '../shared/audit/index.js';
import { httpTrigger, NO_STORE } from '../shared/http/index.js';

/** Without `top`: enough for a page, small enough to read at once. */
const DEFAULT_TOP = 50;

app.http(
  auditRoute.name,
  httpTrigger(auditRoute, async ({ params, query, context }) => ({
    status: 200,
    headers: NO_STORE,
    jsonBody: await auditTrail().recent(params.tenantId, query.top ?? DEFAULT_TOP, context),
  })),
);
