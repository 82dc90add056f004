/** `POST …/users/{upn}/unlock` (role Writeback.Admin): an admin unlocks a user's on-premises account. */
import { app } from '@azure/functions';
import { unlockUserRoute } from '../shared/api/index.js';
import { httpTrigger } from '../shared/http/index.js';
import { runPasswordRoute } from '../shared/operations/index.js';

app.http(
  unlockUserRoute.name,
  httpTrigger(unlockUserRoute, (input) => runPasswordRoute(input, 'admin', { kind: 'unlock' })),
);
