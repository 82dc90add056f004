import { app } from '@azure/functions';
import { openApiRoute } from '../shared/api/index.js';
import { buildOpenApiDocument } from '../shared/api/index.js';
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
