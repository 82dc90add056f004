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
    if (route.access.kind !== 'anonymous') {
      assert.ok(operation?.responses?.['401'], `${route.name} documents its 401`);
      assert.ok(operation?.responses?.['403'], `${route.name} documents its 403`);
      assert.deepEqual(operation?.security, [{ bearer: [] }]);
    } else {
      assert.deepEqual(operation?.security, []);
    }
    const documented = operation as { 'x-required-role'?: string; description?: string } | undefined;
    if (route.access.kind === 'role') {
      assert.equal(documented?.['x-required-role'], route.access.role, `${route.name} publishes its role`);
      assert.match(documented?.description ?? '', new RegExp(route.access.role.replace('.', '\\.')));
    } else {
      assert.equal(documented?.['x-required-role'], undefined, `${route.name} requires no role`);
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

test('the admin routes publish the role Writeback.Admin; the caller routes need only a token', () => {
  const document = buildOpenApiDocument();
  const roleOf = (path: string, method: 'get' | 'put' | 'post' | 'delete'): unknown =>
    (document.paths?.[path]?.[method] as { 'x-required-role'?: string } | undefined)?.['x-required-role'];
  assert.equal(roleOf('/api/tenants/{tenantId}/writeback', 'put'), 'Writeback.Admin');
  assert.equal(roleOf('/api/tenants/{tenantId}/writeback', 'get'), 'Writeback.Admin');
  assert.equal(roleOf('/api/tenants/{tenantId}/writeback', 'delete'), 'Writeback.Admin');
  assert.equal(roleOf('/api/tenants/{tenantId}/writeback/keys/rollover', 'post'), 'Writeback.Admin');
  assert.equal(roleOf('/api/tenants/{tenantId}/users/{upn}/password/reset', 'post'), 'Writeback.Admin');
  assert.equal(roleOf('/api/tenants/{tenantId}/users/{upn}/unlock', 'post'), 'Writeback.Admin');
  assert.equal(roleOf('/api/tenants/{tenantId}/me/password/reset', 'post'), undefined);
  assert.equal(roleOf('/api/tenants/{tenantId}/operations/{operationId}', 'get'), undefined);
});
