/**
 * The `keyRollover` timer (schedule `%KEY_ROLLOVER_SCHEDULE%`, resolved by the host): rolls every
 * tenant's keys that are due. Thin binding to shared/rollover; the on-demand route is rollover-keys.ts.
 */
import { app } from '@azure/functions';
import { keyRollover, KEY_ROLLOVER_RUN_BUDGET_MS } from '../shared/rollover/index.js';

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
