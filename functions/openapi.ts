/** `GET /api/openapi.json` (anonymous): the OpenAPI 3.1 document, generated from the route contracts. */
import { app } from '@azure/functions';
import { buildOpenApiDocument, openApiRoute } from '../shared/api/index.js';
import { httpTrigger } from '../shared/http/index.js';

// Built once per instance: the document only changes with a deployment.
let document: ReturnType<typeof buildOpenApiDocument> | undefined;

app.http(
  openApiRoute.name,
  httpTrigger(openApiRoute, async () => {
    document ??= buildOpenApiDocument();
    return { status: 200, jsonBody: document };
  }),
);
