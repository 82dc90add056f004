import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadAgentConfig, parseAgentConfig } from '../../../agent/config.js';
import { ConfigurationError } from '../../../shared/errors/index.js';

const LISTEN =
  'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=agent-listen;SharedAccessKey=secretkey1';
const SEND =
  'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=agent-send;SharedAccessKey=secretkey2';

function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    tenantId: 'contoso',
    serviceBus: { requestsConnectionString: LISTEN, repliesConnectionString: SEND },
    keyVault: {
      url: 'https://contoso-vault.vault.azure.net/',
      credential: { tenantId: 'tid', clientId: 'cid', clientSecret: 'client-secret-value' },
    },
    directory: {
      kind: 'memory',
      users: [{ userPrincipalName: 'alice@contoso.test', password: 'Secret-Value-1' }],
    },
    stateDirectory: 'state',
    ...extra,
  };
}

function refusal(input: unknown, env: Record<string, string> = {}, dir = '/etc/agent'): ConfigurationError {
  try {
    parseAgentConfig(input, dir, env);
  } catch (error) {
    assert.ok(error instanceof ConfigurationError, String(error));
    return error;
  }
  assert.fail('expected a ConfigurationError');
}

describe('agent configuration', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agent-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fills defaults and derives queue names from the tenant', () => {
    const config = parseAgentConfig(base(), '/etc/agent', {});
    assert.equal(config.requestQueue, 'writeback-contoso');
    assert.equal(config.repliesQueue, 'writeback-contoso-replies');
    assert.equal(config.heartbeatIntervalMs, 300_000);
    assert.equal(config.concurrency, 8);
    assert.equal(config.healthPort, 0);
    assert.equal(config.shutdownTimeoutMs, 30_000);
    assert.equal(config.stateDirectory, '/etc/agent/state');
    assert.equal(config.keyVault.url, 'https://contoso-vault.vault.azure.net');
    assert.match(config.agentId, /^[A-Za-z0-9._:-]+$/);
  });

  it('reads secrets from the environment and from files, relative to the configuration file', async () => {
    await writeFile(join(dir, 'bind.txt'), 'Bind-Passw0rd\n');
    await writeFile(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n');
    const config = parseAgentConfig(
      base({
        keyVault: {
          url: 'https://contoso-vault.vault.azure.net',
          credential: { tenantId: 'tid', clientId: 'cid', clientSecret: { env: 'KV_SECRET' } },
        },
        directory: {
          kind: 'ldap',
          url: 'ldaps://dc1.corp.example:636',
          caCertificateFile: 'ca.pem',
          baseDn: 'DC=corp,DC=example',
          bindDn: 'svc-writeback@corp.example',
          bindPassword: { file: 'bind.txt' },
        },
      }),
      dir,
      { KV_SECRET: 'from-env' },
    );
    assert.equal(config.keyVault.credential.clientSecret, 'from-env');
    assert.equal(config.directory.kind, 'ldap');
    if (config.directory.kind === 'ldap') {
      assert.equal(config.directory.bindPassword, 'Bind-Passw0rd');
      assert.equal(config.directory.startTls, false);
    }
  });

  it('takes HEARTBEAT_INTERVAL from the environment over the file, and names it when malformed', () => {
    assert.equal(
      parseAgentConfig(base({ heartbeatInterval: 'PT1M' }), '/', { HEARTBEAT_INTERVAL: 'PT5S' })
        .heartbeatIntervalMs,
      5000,
    );
    assert.equal(refusal(base(), { HEARTBEAT_INTERVAL: '5 minutes' }).setting, 'HEARTBEAT_INTERVAL');
    assert.equal(refusal(base({ heartbeatInterval: 'PT0S' })).setting, 'heartbeatInterval');
  });

  it('names the field that is wrong, and never quotes a secret', () => {
    const cases: [Record<string, unknown>, string][] = [
      [base({ tenantId: 'x-replies' }), 'tenantId'],
      [base({ concurrency: 0 }), 'concurrency'],
      [base({ healthPort: 70000 }), 'healthPort'],
      [base({ agentId: 'has spaces' }), 'agentId'],
      [base({ unknownField: 1 }), '(the file)'],
      [
        base({
          serviceBus: {
            requestsConnectionString: 'not a connection string secretkey1',
            repliesConnectionString: SEND,
          },
        }),
        'serviceBus.requestsConnectionString',
      ],
      [
        base({
          serviceBus: {
            requestsConnectionString: `${LISTEN};EntityPath=writeback-contoso-replies`,
            repliesConnectionString: SEND,
          },
        }),
        'serviceBus.requestsConnectionString',
      ],
      [
        base({
          keyVault: {
            url: 'https://v.vault.azure.net',
            encryptionKeyId: 'https://other.vault.azure.net/keys/writeback-contoso-enc',
            credential: { tenantId: 't', clientId: 'c', clientSecret: 's' },
          },
        }),
        'keyVault.encryptionKeyId',
      ],
      [
        base({
          keyVault: {
            url: 'https://v.vault.azure.net',
            signatureKeyId: 'https://v.vault.azure.net/keys/writeback-fabrikam-sig/abc',
            credential: { tenantId: 't', clientId: 'c', clientSecret: 's' },
          },
        }),
        'keyVault.signatureKeyId',
      ],
      [
        base({
          keyVault: { url: 'https://v.vault.azure.net', credential: { tenantId: 't', clientId: 'c' } },
        }),
        'keyVault.credential.clientSecret',
      ],
      [
        base({
          directory: {
            kind: 'ldap',
            url: 'ldap://dc1',
            caCertificateFile: '/etc/hosts',
            baseDn: 'DC=a,DC=b',
            bindDn: 'x',
            bindPassword: 'p',
          },
        }),
        'directory.startTls',
      ],
      [
        base({
          directory: {
            kind: 'ldap',
            url: 'ldaps://dc1',
            caCertificateFile: 'missing.pem',
            baseDn: 'DC=a,DC=b',
            bindDn: 'x',
            bindPassword: 'p',
          },
        }),
        'directory.caCertificateFile',
      ],
      [
        base({
          directory: { kind: 'memory', users: [{ userPrincipalName: 'alice', password: 'Secret-Value-1' }] },
        }),
        'directory.users.0.userPrincipalName',
      ],
    ];
    for (const [input, setting] of cases) {
      const error = refusal(input);
      assert.equal(error.setting, setting, error.message);
      for (const secret of ['secretkey1', 'secretkey2', 'client-secret-value', 'Secret-Value-1']) {
        assert.ok(!error.message.includes(secret), `${setting}: ${error.message}`);
      }
    }
  });

  it("accepts the key ids enablement returns when they name the tenant's keys in the configured vault", () => {
    const config = parseAgentConfig(
      base({
        keyVault: {
          url: 'https://v.vault.azure.net',
          encryptionKeyId: 'https://v.vault.azure.net/keys/writeback-contoso-enc',
          signatureKeyId:
            'https://v.vault.azure.net/keys/writeback-contoso-sig/0123456789abcdef0123456789abcdef',
          credential: { tenantId: 't', clientId: 'c', clientSecret: 's' },
        },
      }),
      '/',
      {},
    );
    assert.equal(config.keyVault.url, 'https://v.vault.azure.net');
  });

  it('keeps where each connection string came from, for a key rollover to write it back', async () => {
    await writeFile(join(dir, 'listen.secret'), `${LISTEN}\n`);
    const fromObject = parseAgentConfig(
      base({
        serviceBus: {
          requestsConnectionString: { file: 'listen.secret' },
          repliesConnectionString: { env: 'REPLIES' },
        },
      }),
      dir,
      { REPLIES: SEND },
    );
    assert.deepEqual(fromObject.connectionStringSources, {
      requestsConnectionString: { kind: 'file', path: join(dir, 'listen.secret') },
      repliesConnectionString: { kind: 'env', name: 'REPLIES' },
    });
    assert.deepEqual(parseAgentConfig(base(), dir, {}).connectionStringSources.requestsConnectionString, {
      kind: 'inline',
    });
    const path = join(dir, 'agent.json');
    await writeFile(path, JSON.stringify(base()));
    assert.deepEqual(loadAgentConfig(path, {}).connectionStringSources, {
      requestsConnectionString: { kind: 'inline', configFile: path },
      repliesConnectionString: { kind: 'inline', configFile: path },
    });
  });
});
