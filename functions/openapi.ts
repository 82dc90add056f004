import { app } from '@azure/functions';
import { openApiRoute } from '../shared/api/routes.js';
import { buildOpenApiDocument } from '../shared/api/openapi.js';
import { httpTrigger } from '../shared/http/endpoint.js';

// Built once per instance: the document only changes with a deployment.
let document: ReturnType<typeof buildOpenApiDocument> | undefined;

app.http(
  openApiRoute.name,
  httpTrigger(openApiRoute, async () => {
    document ??= buildOpenApiDocument();
    return { status: 200, jsonBody: document };
  }),
);
