/** The `operationsExpiry` timer: ends operations whose request expired unanswered. Thin binding to shared/operations. */
import { app } from '@azure/functions';
import { writebackOperations } from '../shared/operations/index.js';

// Every minute: a request that no agent took ends as WritebackExpired, so every accepted operation
// reaches a final state even when nobody asks about it again.
app.timer('operationsExpiry', {
  schedule: '0 * * * * *',
  handler: async (_timer, context) => {
    const expired = await writebackOperations().expireOverdue(context);
    if (expired > 0) context.log(`Ended ${expired} expired operation(s) as WritebackExpired.`);
  },
});
