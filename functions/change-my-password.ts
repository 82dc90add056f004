/** `POST …/me/password/change`: the caller changes their password; AD checks the current one. */
import { app } from '@azure/functions';
import { changeMyPasswordRoute } from '../shared/api/index.js';
import { httpTrigger } from '../shared/http/index.js';
import { runPasswordRoute } from '../shared/operations/index.js';

app.http(
  changeMyPasswordRoute.name,
  httpTrigger(changeMyPasswordRoute, (input) =>
    runPasswordRoute(input, 'self', { kind: 'change', ...input.body }),
  ),
);
