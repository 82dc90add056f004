/**
 * The LDAP driver when the DC cannot be reached or cannot be trusted: every case ends in a prompt
 * AgentFailure instead of a hang, reconnects back off, and bad configuration is refused at start.
 * Real sockets on loopback (free ports), no Samba needed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import {
  DirectoryClosedError,
  LdapDirectory,
  type LdapDirectoryOptions,
} from '../../../../agent/directory/index.js';
import { ConfigurationError, ProblemError } from '../../../../shared/errors/index.js';
import { ensureLocalCa, issueServerCertificate, type LocalCa } from '../../../../local/certs/index.js';
import { freePort } from '../../../../local/process/ports.js';
import { CANARY, assertNoCanary } from './conformance.js';

const ALICE = { kind: 'upn', value: 'alice@corp.example.test' } as const;

/** A server on a free loopback port that keeps its sockets so that it can close them all. */
async function listen(server: Server): Promise<{ port: number; sockets: Socket[]; accepted: () => number }> {
  const sockets: Socket[] = [];
  let accepted = 0;
  server.on('connection', (socket: Socket) => {
    accepted++;
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { port: address.port, sockets, accepted: () => accepted };
}

async function shut(server: Server, sockets: Socket[]): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('LDAP directory: unreachable or untrusted DC', () => {
  let dir: string;
  let ca: LocalCa;
  const lines: string[] = [];
  const drivers: LdapDirectory[] = [];

  const driverFor = (port: number, options: Partial<LdapDirectoryOptions> = {}) => {
    const driver = new LdapDirectory({
      url: `ldaps://127.0.0.1:${port}`,
      caCertificate: ca.caPem,
      baseDn: 'DC=corp,DC=example,DC=test',
      bindDn: 'svc-writeback@corp.example.test',
      bindPassword: `${CANARY}-service`,
      connectTimeoutMs: 300,
      requestTimeoutMs: 300,
      operationDeadlineMs: 1_000,
      initialBackoffMs: 50,
      maxBackoffMs: 200,
      logger: {
        info: (message, fields) => lines.push(JSON.stringify({ message, ...fields })),
        warn: (message, fields) => lines.push(JSON.stringify({ message, ...fields })),
      },
      ...options,
    });
    drivers.push(driver);
    return driver;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ldap-unreachable-'));
    ca = await ensureLocalCa(join(dir, 'ca'));
  });

  after(async () => {
    await Promise.all(drivers.map((driver) => driver.close()));
    await rm(dir, { recursive: true, force: true });
    for (const line of lines) assertNoCanary(line, 'a log line');
  });

  it(
    'answers AgentFailure when nothing listens, after retrying with backoff',
    { timeout: 10_000 },
    async () => {
      const driver = driverFor(await freePort());
      const result = await driver.resetPassword(ALICE, `${CANARY}#1-Zx`);
      assert.equal(result.outcome, 'AgentFailure');
      assert.match(result.detail ?? '', /the directory is unreachable \(ECONNREFUSED\)/);
      assertNoCanary(result, 'the result');
      assert.ok(
        lines.some((line) => line.includes('"attempt":2')),
        'it tried more than once',
      );
      // The next caller meets the same backoff and also ends within its deadline.
      await assert.rejects(driver.readPolicy(), (error: unknown) => {
        assert.ok(error instanceof ProblemError);
        assert.equal(error.code, 'AgentFailure');
        assert.match(error.detail, /unreachable/);
        return true;
      });
    },
  );

  it('gives up on a DC that accepts TCP but never completes TLS', { timeout: 10_000 }, async () => {
    const server = createServer();
    const { port, sockets } = await listen(server);
    try {
      const result = await driverFor(port).unlock(ALICE);
      assert.equal(result.outcome, 'AgentFailure');
      assert.match(result.detail ?? '', /unreachable/);
    } finally {
      await shut(server, sockets);
    }
  });

  it('gives up on a DC that completes TLS but never answers LDAP', { timeout: 10_000 }, async () => {
    const certificate = issueServerCertificate(ca, { hosts: ['127.0.0.1'] });
    const server = createTlsServer({ cert: certificate.certPem, key: certificate.keyPem });
    const { port, sockets } = await listen(server);
    try {
      const result = await driverFor(port).changePassword(ALICE, `${CANARY}#1-Zx`, `${CANARY}#2-Zx`);
      assert.equal(result.outcome, 'AgentFailure');
      assert.match(result.detail ?? '', /unreachable/);
      assertNoCanary(result, 'the result');
    } finally {
      await shut(server, sockets);
    }
  });

  it('refuses a DC whose certificate does not chain to the configured CA, without retrying', async () => {
    const stranger = await ensureLocalCa(join(dir, 'stranger'));
    const certificate = issueServerCertificate(stranger, { hosts: ['127.0.0.1'] });
    const server = createTlsServer({ cert: certificate.certPem, key: certificate.keyPem });
    const { port, sockets, accepted } = await listen(server);
    try {
      const result = await driverFor(port).unlock(ALICE);
      assert.equal(result.outcome, 'AgentFailure');
      assert.match(result.detail ?? '', /TLS certificate was not accepted \([A-Z_]+\)/);
      assert.equal(accepted(), 1);
    } finally {
      await shut(server, sockets);
    }
  });

  it('backs off between reconnects to a DC that drops every connection', { timeout: 10_000 }, async () => {
    const server = createServer((socket) => socket.destroy());
    const { port, sockets, accepted } = await listen(server);
    try {
      const result = await driverFor(port, {
        operationDeadlineMs: 800,
        initialBackoffMs: 100,
        maxBackoffMs: 400,
      }).unlock(ALICE);
      assert.equal(result.outcome, 'AgentFailure');
      // Without backoff a dropping server sees hundreds of attempts in 800 ms; with it, a handful.
      assert.ok(accepted() >= 2 && accepted() <= 8, `${accepted()} connection attempts`);
    } finally {
      await shut(server, sockets);
    }
  });

  it('refuses configurations that would send passwords in clear or skip checks', () => {
    const valid: LdapDirectoryOptions = {
      url: 'ldaps://dc.corp.example.test',
      caCertificate: ca.caPem,
      baseDn: 'DC=corp,DC=example,DC=test',
      bindDn: 'svc@corp.example.test',
      bindPassword: 'secret',
    };
    const refused: Array<[Partial<LdapDirectoryOptions>, RegExp]> = [
      [{ url: 'ldap://dc.corp.example.test' }, /directory url/],
      [{ url: 'ldaps://dc.corp.example.test', startTls: true }, /startTls/],
      [{ url: 'http://dc.corp.example.test' }, /directory url/],
      [{ url: 'not a url' }, /directory url/],
      [{ caCertificate: '' }, /CA certificate/],
      [{ baseDn: '' }, /base DN/],
      [{ bindPassword: '' }, /bind password/],
    ];
    for (const [options, message] of refused) {
      assert.throws(
        () => new LdapDirectory({ ...valid, ...options }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigurationError);
          assert.match(error.message, message);
          assert.ok(!error.message.includes('secret'));
          return true;
        },
      );
    }
    const saved = process.env['NODE_DEBUG'];
    process.env['NODE_DEBUG'] = 'net,ldapts';
    try {
      assert.throws(() => new LdapDirectory(valid), /NODE_DEBUG/);
    } finally {
      if (saved === undefined) delete process.env['NODE_DEBUG'];
      else process.env['NODE_DEBUG'] = saved;
    }
    assert.ok(new LdapDirectory({ ...valid, url: 'ldap://dc.corp.example.test', startTls: true }));
  });

  it('throws DirectoryClosedError when used after close()', async () => {
    const driver = driverFor(await freePort());
    await driver.close();
    await driver.close();
    await assert.rejects(driver.unlock(ALICE), DirectoryClosedError);
    await assert.rejects(driver.readPolicy(), DirectoryClosedError);
  });
});
