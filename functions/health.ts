/** `GET /api/health` (anonymous): liveness and the API's version. */
import { app } from '@azure/functions';
import { API_VERSION, healthRoute } from '../shared/api/index.js';
import { httpTrigger, NO_STORE } from '../shared/http/index.js';

app.http(
  healthRoute.name,
  httpTrigger(healthRoute, async () => ({
    status: 200,
    headers: NO_STORE,
    jsonBody: { status: 'ok', version: API_VERSION, time: new Date().toISOString() },
  })),
);
