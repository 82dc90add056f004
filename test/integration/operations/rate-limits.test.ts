/**
 * Rate limits through the HTTP routes, held in Table storage: per user on changes (guessing the
 * current password), per user on every route, and per tenant; across two hosts of the app.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPipeline, type PipelineUnderTest } from '../../support/pipeline.js';

describe('rate limits of the password routes', () => {
  let p: PipelineUnderTest;
  let secondApi: string;
  before(async () => {
    p = await startPipeline({
      env: {
        RATE_LIMIT_CHANGE_PER_USER: '2/PT15M',
        RATE_LIMIT_PER_USER: '4/PT15M',
        RATE_LIMIT_PER_TENANT: '9/PT15M',
      },
    });
    secondApi = `${(await p.startSecondHost()).url}/api`;
    await p.untilOnline();
  });
  after(() => p?.stop());

  const change = async (user: string, api?: string) =>
    p.call('POST', `/tenants/${p.tenantId}/me/password/change`, {
      token: await p.token({ user }),
      body: { currentPassword: 'Not-The-Current-1!', newPassword: 'Whatever-Passw0rd-1!' },
      ...(api ? { api } : {}),
    });

  test('guessing the current password is stopped after the change limit, across hosts, with Retry-After', async () => {
    const first = await change('alice@contoso.test');
    assert.equal(first.status, 422);
    assert.equal(first.body.code, 'CurrentPasswordIncorrect');
    // The second attempt goes to the other host: the count is shared through Table storage.
    assert.equal((await change('alice@contoso.test', secondApi)).body.code, 'CurrentPasswordIncorrect');
    const handled = p.agent()?.health().handled;
    const refused = await change('alice@contoso.test');
    assert.equal(refused.status, 429);
    assert.equal(refused.body.code, 'RateLimited');
    assert.match(String(refused.body.detail), /change/i);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(refused.body.operationId, undefined, 'a refused attempt is no operation');
    // Nothing reached the agent.
    assert.equal(p.agent()?.health().handled, handled);
    // Another user is not affected.
    assert.equal((await change('bob@contoso.test')).body.code, 'CurrentPasswordIncorrect');
  });

  test('the per-user limit covers every route, and the tenant limit every user', async () => {
    const admin = await p.token({ admin: true, user: 'admin@contoso.test' });
    const unlock = () =>
      p.call('POST', `/tenants/${p.tenantId}/users/bob@contoso.test/unlock`, { token: admin });
    // bob: one change above, then unlocks up to the user limit of 4.
    for (let i = 0; i < 3; i++) assert.equal((await unlock()).status, 200);
    const refused = await unlock();
    assert.equal(refused.status, 429);
    assert.match(String(refused.body.detail), /user/i);
    // The tenant has accepted 3 (test above) + 3 = 6 attempts of 9; three unlocks of admin fill it.
    const unlockOf = (upn: string) =>
      p.call('POST', `/tenants/${p.tenantId}/users/${upn}/unlock`, { token: admin });
    for (let i = 0; i < 3; i++) assert.equal((await unlockOf('admin@contoso.test')).status, 200);
    const tenantRefused = await unlockOf('da@contoso.test');
    assert.equal(tenantRefused.status, 429);
    assert.match(String(tenantRefused.body.detail), /tenant/i);
  });
});
