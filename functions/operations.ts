/**
 * `GET /api/tenants/{tenantId}/operations/{operationId}?waitSeconds=N` (result correlation), and the
 * timer that ends operations whose request expired unanswered. Thin bindings to shared/operations.
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

// Every minute: a request that no agent took ends as WritebackExpired, so every accepted operation
// reaches a final state even when nobody asks about it again.
app.timer('operationsExpiry', {
  schedule: '0 * * * * *',
  handler: async (_timer, context) => {
    const expired = await writebackOperations().expireOverdue(context);
    if (expired > 0) context.log(`Ended ${expired} expired operation(s) as WritebackExpired.`);
  },
});
