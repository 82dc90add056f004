import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAgentConfig } from '../../../agent/config.js';
import { DEMO_USER_PASSWORD, demoAgentConfigFile } from '../../../agent/demo-config.js';
import { DEMO_POLICY } from '../../../agent/directory/index.js';

describe('the demo agent configuration', () => {
  it('passes the loader, with the demo users and policy for tenant contoso', () => {
    const config = parseAgentConfig(
      demoAgentConfigFile({
        requestsConnectionString:
          'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=l;SharedAccessKey=k;UseDevelopmentEmulator=true',
        repliesConnectionString:
          'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=s;SharedAccessKey=k;UseDevelopmentEmulator=true',
        vaultUrl: 'https://127.0.0.1:8443',
        credential: {
          tenantId: 'writeback',
          clientId: 'writeback-agent-contoso',
          clientSecret: 's',
          authorityHost: 'https://127.0.0.1:7072',
        },
        caCertificateFile: '/etc/hostname',
        stateDirectory: '.local/agent',
      }),
      '/repo',
      {},
    );
    assert.equal(config.tenantId, 'contoso');
    assert.equal(config.heartbeatIntervalMs, 10_000);
    assert.equal(config.directory.kind, 'memory');
    if (config.directory.kind !== 'memory') return;
    assert.deepEqual(config.directory.policy, DEMO_POLICY);
    const byUpn = new Map(config.directory.users.map((u) => [u.userPrincipalName, u]));
    assert.deepEqual(
      [...byUpn.keys()].sort(),
      ['admin', 'alice', 'bob', 'da', 'gone'].map((n) => `${n}@contoso.test`),
    );
    assert.equal(byUpn.get('da@contoso.test')?.adminCount, 1);
    assert.equal(byUpn.get('gone@contoso.test')?.disabled, true);
    assert.ok(config.directory.users.every((u) => u.password === DEMO_USER_PASSWORD));
  });
});
