/** `POST …/me/unlock`: the caller's on-premises account is unlocked, the password unchanged. */
import { app } from '@azure/functions';
import { unlockMeRoute } from '../shared/api/index.js';
import { httpTrigger } from '../shared/http/index.js';
import { runPasswordRoute } from '../shared/operations/index.js';

app.http(
  unlockMeRoute.name,
  httpTrigger(unlockMeRoute, (input) => runPasswordRoute(input, 'self', { kind: 'unlock' })),
);
