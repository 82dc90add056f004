/** The local CA shared by every emulator HTTPS endpoint (local/certs). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureLocalCa, issueServerCertificate } from '../../../../local/certs/index.js';

describe('local CA', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-ca-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a CA once, with a private key only the owner can read, and reuses it', async () => {
    const caDir = join(dir, 'once');
    const first = await ensureLocalCa(caDir);
    const second = await ensureLocalCa(caDir);
    assert.equal(second.caPem, first.caPem);
    assert.equal(first.caPath, join(caDir, 'ca.pem'));
    assert.equal((await stat(first.caKeyPath)).mode & 0o777, 0o600);
    const cert = new X509Certificate(first.caPem);
    assert.equal(cert.ca, true);
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
  });

  it('ends with one CA when two processes create it at the same moment', async () => {
    const caDir = join(dir, 'race');
    const script = fileURLToPath(new URL('./fixtures/ensure-ca.js', import.meta.url));
    const run = () => promisify(execFile)(process.execPath, [script, caDir]);
    const [a, b] = await Promise.all([run(), run()]);
    const pemA = (JSON.parse(a.stdout) as { caPem: string }).caPem;
    const pemB = (JSON.parse(b.stdout) as { caPem: string }).caPem;
    assert.equal(pemA, pemB);
    assert.equal((await ensureLocalCa(caDir)).caPem, pemA);
  });

  it('issues server certificates for 127.0.0.1 and localhost that a client trusting the CA accepts', async () => {
    const ca = await ensureLocalCa(join(dir, 'issue'));
    const { certPem, keyPem } = issueServerCertificate(ca, { hosts: ['127.0.0.1', 'localhost'] });
    const cert = new X509Certificate(certPem);
    assert.equal(cert.ca, false);
    assert.ok(cert.verify(new X509Certificate(ca.caPem).publicKey));
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkHost('example.com'), undefined);

    const server = https.createServer({ cert: certPem, key: keyPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const get = (options: https.RequestOptions) =>
      new Promise<string>((resolve, reject) => {
        https
          .get({ port, path: '/', agent: false, ...options }, (res) => {
            res.setEncoding('utf8');
            let body = '';
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
    try {
      assert.equal(await get({ host: '127.0.0.1', ca: ca.caPem }), 'ok');
      assert.equal(await get({ host: 'localhost', ca: ca.caPem, servername: 'localhost' }), 'ok');
      await assert.rejects(get({ host: '127.0.0.1' }), /self-signed|unable to (get|verify)/);
    } finally {
      server.close();
    }
  });
});
