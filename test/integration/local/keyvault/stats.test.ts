import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ADMIN,
  adminRequest,
  CRYPTO_USER,
  OFFICER,
  startStack,
  TENANT,
  VAULT_AUDIENCE,
  type TestStack,
} from './support.js';

let stack: TestStack;
before(async () => {
  stack = await startStack();
});
after(() => stack?.close());

const token = (oid: string) => stack.identity.mintToken({ tenant: TENANT, oid, audience: VAULT_AUDIENCE });

test('GET /.emulator/stats counts requests by caller, operation and status, for administrators only', async () => {
  const officer = stack.credential(OFFICER);
  const key = await stack.keyClient(officer).createRsaKey('counted', { keySize: 2048 });
  const user = stack.cryptoClient(key.id!, stack.credential(CRYPTO_USER));
  const { result } = await user.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: Buffer.from('secret') });
  await user.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: result });
  await user.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: result });

  const stats = await adminRequest(stack, 'GET', '/.emulator/stats', await token(ADMIN));
  assert.equal(stats.status, 200);
  const byCaller = (stats.body as { byCaller: Record<string, Record<string, Record<string, number>>> })
    .byCaller;
  assert.equal(byCaller[OFFICER]?.createKey?.['200'], 1);
  assert.equal(byCaller[CRYPTO_USER]?.decrypt?.['200'], 2);
  // The SDK's first call of each client goes without a token and is challenged.
  assert.ok((byCaller.anonymous?.createKey?.['401'] ?? 0) >= 1);
  // The admin endpoint's own requests are not counted.
  assert.ok(!Object.values(byCaller).some((operations) => 'stats' in operations));

  const refused = await adminRequest(stack, 'GET', '/.emulator/stats', await token(OFFICER));
  assert.equal(refused.status, 403);
});
