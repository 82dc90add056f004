import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManagedIdentityCredential } from '@azure/identity';
import { entraCredential } from '../../../shared/telemetry/index.js';

test("the app's telemetry uses the managed identity the host's authentication string names", () => {
  assert.equal(entraCredential(undefined), undefined);
  assert.equal(entraCredential(''), undefined);
  assert.equal(entraCredential('Authorization=Key'), undefined);
  assert.ok(
    entraCredential('Authorization=AAD;ClientId=00000000-0000-0000-0000-000000000001') instanceof
      ManagedIdentityCredential,
  );
  assert.ok(entraCredential('authorization=aad') instanceof ManagedIdentityCredential);
});
