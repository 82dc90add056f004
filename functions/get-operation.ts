/**
 * `GET /api/tenants/{tenantId}/operations/{operationId}?waitSeconds=N` (result correlation). Thin
 * binding to shared/operations; the timer that ends expired operations is operations-expiry.ts.
 */
import { app } from '@azure/functions';
import { getOperationRoute } from '../shared/api/index.js';
import { httpTrigger } from '../shared/http/index.js';
import { operationStatusResponse, writebackOperations } from '../shared/operations/index.js';

app.http(
  getOperationRoute.name,
  httpTrigger(getOperationRoute, async ({ params, query, caller, context }) => {
    const record = await writebackOperations().get(
      params.tenantId,
      params.operationId,
      caller,
      (query.waitSeconds ?? 0) * 1000,
      context,
    );
    return operationStatusResponse(record);
  }),
);
