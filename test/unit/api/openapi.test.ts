import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { buildOpenApiDocument } from '../../../shared/api/openapi.js';
import { apiRoutes } from '../../../shared/api/routes.js';

test('the document is valid OpenAPI 3.1', async () => {
  const document = buildOpenApiDocument();
  assert.equal(document.openapi, '3.1.0');
  const validator = new Validator();
  const result = await validator.validate(
    structuredClone(document) as unknown as Parameters<Validator['validate']>[0],
  );
  assert.deepEqual(result.errors ?? [], [], JSON.stringify(result.errors, null, 2));
  assert.equal(result.valid, true);

  // The validator does reject a broken document, so the check above means something.
  const broken = { ...structuredClone(document), info: { title: 'no version' } };
  const rejected = await new Validator().validate(broken as Parameters<Validator['validate']>[0]);
  assert.equal(rejected.valid, false);
});

test('every route contract is in the document, with its problems', () => {
  const document = buildOpenApiDocument();
  for (const route of apiRoutes) {
    const path = document.paths?.[`/api/${route.route}`];
    assert.ok(path, `missing path for ${route.name}`);
    const operation = path[route.method.toLowerCase() as 'get'];
    assert.equal(operation?.operationId, route.name);
    assert.ok(operation?.responses?.['500'], `${route.name} documents its 500`);
    if (route.auth === 'bearer') {
      assert.ok(operation?.responses?.['401'], `${route.name} documents its 401`);
      assert.deepEqual(operation?.security, [{ bearer: [] }]);
    }
  }
});

test('the schemas that validate requests are the ones in the document', () => {
  const document = buildOpenApiDocument();
  const me = document.paths?.['/api/tenants/{tenantId}/me']?.get;
  const tenantParam = me?.parameters?.find((p) => 'name' in p && p.name === 'tenantId');
  assert.ok(tenantParam && 'schema' in tenantParam);
  assert.equal((tenantParam.schema as { pattern?: string }).pattern, '^[A-Za-z0-9][A-Za-z0-9-]{0,62}$');
  assert.ok(document.components?.schemas?.ProblemDetails);
});
