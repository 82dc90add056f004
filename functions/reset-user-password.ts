/** `POST …/users/{upn}/password/reset` (role Writeback.Admin): an admin resets a user's password. */
import { app } from '@azure/functions';
import { resetUserPasswordRoute } from '../shared/api/index.js';
import { httpTrigger } from '../shared/http/index.js';
import { runPasswordRoute } from '../shared/operations/index.js';

app.http(
  resetUserPasswordRoute.name,
  httpTrigger(resetUserPasswordRoute, (input) => {
    const { newPassword, forceChangeAtNextLogon, unlock } = input.body ?? {};
    return runPasswordRoute(input, 'admin', {
      kind: 'reset',
      ...(newPassword !== undefined ? { newPassword } : {}),
      flags: {
        ...(forceChangeAtNextLogon !== undefined ? { forceChangeAtNextLogon } : {}),
        ...(unlock !== undefined ? { unlock } : {}),
      },
    });
  }),
);
