/** `POST …/me/password/reset`: self-service reset of the caller's on-premises password (docs/api.md). */
import { app } from '@azure/functions';
import { resetMyPasswordRoute } from '../shared/api/index.js';
import { httpTrigger } from '../shared/http/index.js';
import { runPasswordRoute } from '../shared/operations/index.js';

app.http(
  resetMyPasswordRoute.name,
  httpTrigger(resetMyPasswordRoute, (input) =>
    runPasswordRoute(input, 'self', { kind: 'reset', newPassword: input.body.newPassword }),
  ),
);
