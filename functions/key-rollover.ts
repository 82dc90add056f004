/**
 * Key rollover: the `keyRollover` timer (schedule `%KEY_ROLLOVER_SCHEDULE%`, resolved by the host)
 * and `POST /api/tenants/{tenantId}/writeback/keys/rollover` (role Writeback.Admin). Thin bindings
 * to shared/rollover.
 */
import { app } from '@azure/functions';
import { rolloverKeysRoute } from '../shared/api/index.js';
import { actorOf } from '../shared/auth/index.js';
import { httpTrigger } from '../shared/http/index.js';
import { keyRollover, KEY_ROLLOVER_RUN_BUDGET_MS } from '../shared/rollover/index.js';

app.http(
  rolloverKeysRoute.name,
  httpTrigger(rolloverKeysRoute, async ({ params, caller, body, context }) => {
    const rolled = await keyRollover().rollNow(params.tenantId, actorOf(caller), context, body?.reason);
    return { status: 200, headers: { 'cache-control': 'no-store' }, jsonBody: rolled };
  }),
);

app.timer('keyRollover', {
  schedule: '%KEY_ROLLOVER_SCHEDULE%',
  handler: async (timer, context) => {
    // A missed run (isPastDue) needs nothing special: what is overdue is rolled once, by its age.
    if (timer.isPastDue) context.log('keyRollover is running late; overdue keys roll now.');
    const summary = await keyRollover().run(Date.now() + KEY_ROLLOVER_RUN_BUDGET_MS, context);
    context.log(
      `Key rollover: ${summary.rolled} tenant(s) rolled, ${summary.retired} replaced version(s) disabled, ` +
        `${summary.credentialsSent} control message(s) sent, ${summary.deferred} left for the next run, ` +
        `${summary.failed} failed.`,
    );
  },
});
