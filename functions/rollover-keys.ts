/**
 * `POST /api/tenants/{tenantId}/writeback/keys/rollover` (role Writeback.Admin): rolls a tenant's keys
 * now. Thin binding to shared/rollover; the scheduled rollover is key-rollover-timer.ts.
 */
import { app } from '@azure/functions';
import { rolloverKeysRoute } from '../shared/api/index.js';
import { actorOf } from '../shared/auth/index.js';
import { httpTrigger, NO_STORE } from '../shared/http/index.js';
import { keyRollover } from '../shared/rollover/index.js';

app.http(
  rolloverKeysRoute.name,
  httpTrigger(rolloverKeysRoute, async ({ params, caller, body, context }) => {
    const rolled = await keyRollover().rollNow(params.tenantId, actorOf(caller), context, body?.reason);
    return { status: 200, headers: NO_STORE, jsonBody: rolled };
  }),
);
