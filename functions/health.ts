import { app } from '@azure/functions';
import { healthRoute } from '../shared/api/index.js';
import { API_VERSION } from '../shared/api/index.js';
import { httpTrigger } from '../shared/http/index.js';

app.http(
  healthRoute.name,
  httpTrigger(healthRoute, async () => ({
    status: 200,
    headers: { 'cache-control': 'no-store' },
    jsonBody: { status: 'ok', version: API_VERSION, time: new Date().toISOString() },
  })),
);
