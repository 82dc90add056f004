/**
 * Requests the host refuses before any function runs: a path that is not valid percent-encoding, header
 * fields over the limit, and what the HTTP parser cannot read. Each gets an application/problem+json
 * answer naming what is wrong, and the connection closes cleanly (never a reset).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startFunctionsHost, type FunctionsHost } from '../../../../local/functions-host/index.js';
import { answerClientErrors } from '../../../../local/functions-host/client-errors.js';
import { MAX_HEADER_BYTES } from '../../../../local/functions-host/http-trigger.js';
import { createTestApp, type TestApp } from './app-dir.js';

let app: TestApp;
let host: FunctionsHost;

before(async () => {
  app = createTestApp({ fixtures: ['http-app'] });
  host = await startFunctionsHost({ appDir: app.dir, port: 0, dataDir: app.dataDir });
});

after(async () => {
  await host?.stop();
  app?.remove();
});

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  problem: Record<string, unknown>;
}

/**
 * Writes `request` on a socket in one go and reads until the host closes the connection. Rejects when
 * the connection is reset, which is what a client sees when a server closes with bytes unread.
 */
function sendRaw(request: string, port = host.port): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => socket.end());
    socket.on('close', (hadError) => {
      if (hadError) return;
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const [statusLine = '', ...fields] = head.split('\r\n');
      const headers = Object.fromEntries(
        fields.map((f) => [f.slice(0, f.indexOf(':')).toLowerCase(), f.slice(f.indexOf(':') + 1).trim()]),
      );
      try {
        resolve({
          status: Number(statusLine.split(' ')[1]),
          headers,
          problem: JSON.parse(body) as Record<string, unknown>,
        });
      } catch {
        reject(new Error(`not a problem answer: ${JSON.stringify(text.slice(0, 300))}`));
      }
    });
  });
}

/** A request through Node's own HTTP client, with one header of `size` bytes. */
function getWithHeader(size: number): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: host.port,
        path: '/api/items/1',
        headers: { 'x-large': 'a'.repeat(size) },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', body }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function assertProblem(answer: RawAnswer, status: number, code: string, detail: RegExp): void {
  assert.equal(answer.status, status);
  assert.equal(answer.headers['content-type'], 'application/problem+json');
  assert.equal(answer.headers.connection?.toLowerCase(), 'close');
  assert.equal(answer.problem.status, status);
  assert.equal(answer.problem.code, code);
  assert.equal(answer.problem.type, `urn:writeback:problem:${code}`);
  assert.match(String(answer.problem.detail), detail);
}

describe('malformed percent-encoding in the path', () => {
  it('answers 400 InvalidRequest naming the bad escape, for any path', async () => {
    const res = await fetch(`${host.url}/api/tenants/%E0%A4%A/writeback`);
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const problem = (await res.json()) as Record<string, unknown>;
    assert.equal(problem.code, 'InvalidRequest');
    assert.equal(
      problem.detail,
      "The request path is not valid: '%E0%A4' at offset 13 does not decode to UTF-8.",
    );

    const lone = (await (await fetch(`${host.url}/api/items/%ZZ`)).json()) as Record<string, unknown>;
    assert.equal(
      lone.detail,
      "The request path is not valid: '%ZZ' at offset 11 is not a '%' followed by two hexadecimal digits.",
    );
  });

  it('still routes valid escapes, and leaves unknown paths an empty 404', async () => {
    const res = await fetch(`${host.url}/api/items/caf%C3%A9`);
    assert.deepEqual(await res.json(), { params: { name: 'café' } });
    const missing = await fetch(`${host.url}/api/nothing%20here`);
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), '');
  });

  it('answers 400 when the request target and Host header make no URL', async () => {
    const answer = await sendRaw('GET /api/items/1 HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n');
    assertProblem(answer, 400, 'InvalidRequest', /do not make a valid URL/);
  });
});

describe('request headers over the limit', () => {
  it(`serves headers just under ${MAX_HEADER_BYTES} bytes`, async () => {
    const res = await getWithHeader(MAX_HEADER_BYTES - 1024);
    assert.equal(res.status, 200);
  });

  for (const size of [40 * 1024, 64 * 1024, 256 * 1024]) {
    it(`answers 431 with a problem, not a reset, for a ${size / 1024} KiB header (five times)`, async () => {
      for (let i = 0; i < 5; i++) {
        const answer = await sendRaw(
          `GET /api/items/1 HTTP/1.1\r\nHost: x\r\nX-Large: ${'a'.repeat(size)}\r\n\r\n`,
        );
        assertProblem(
          answer,
          431,
          'RequestHeadersTooLarge',
          new RegExp(`request line and header fields together are larger than ${MAX_HEADER_BYTES} bytes`),
        );
        const viaClient = await getWithHeader(size);
        assert.equal(viaClient.status, 431);
        assert.equal(viaClient.contentType, 'application/problem+json');
        assert.equal((JSON.parse(viaClient.body) as { code: string }).code, 'RequestHeadersTooLarge');
      }
      const viaFetch = await fetch(`${host.url}/api/items/1`, { headers: { 'x-large': 'a'.repeat(size) } });
      assert.equal(viaFetch.status, 431);
      assert.equal(((await viaFetch.json()) as { code: string }).code, 'RequestHeadersTooLarge');
    });
  }

  it('answers 431 for a request line that alone is over the limit (Node counts it with the headers)', async () => {
    const answer = await sendRaw(
      `GET /api/items/${'1'.repeat(MAX_HEADER_BYTES + 10)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    assertProblem(answer, 431, 'RequestHeadersTooLarge', /request line and header fields/);
  });
});

describe('requests the HTTP parser refuses', () => {
  it('answers 400 InvalidRequest naming the parser reason', async () => {
    assertProblem(
      await sendRaw('G@T /api/items/1 HTTP/1.1\r\nHost: x\r\n\r\n'),
      400,
      'InvalidRequest',
      /not valid HTTP\/1\.1: Invalid method encountered \(HPE_INVALID_METHOD\)/,
    );
    assertProblem(
      await sendRaw('GET /api/items/1 HTTP/1.1\r\nBad Header: x\r\n\r\n'),
      400,
      'InvalidRequest',
      /HPE_INVALID_HEADER_TOKEN/,
    );
    assertProblem(
      await sendRaw('GET /api/items/1 HTTP/9.1\r\nHost: x\r\n\r\n'),
      400,
      'InvalidRequest',
      /HPE_INVALID_VERSION/,
    );
  });

  it('answers 408 RequestTimeout when the headers do not arrive in time', async () => {
    // The host keeps Node's 60 s headersTimeout; a server of its own with 1 s shows the same answer.
    const server = http.createServer(
      { headersTimeout: 1000, requestTimeout: 2000, connectionsCheckingInterval: 100 },
      (_req, res) => res.end(),
    );
    answerClientErrors(server, MAX_HEADER_BYTES);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const answer = await sendRaw('GET /api/items/1 HTTP/1.1\r\nHost: x\r\n', port);
      assertProblem(answer, 408, 'RequestTimeout', /headers within 1 s, all of it within 2 s/);
    } finally {
      server.close();
    }
  });

  it('keeps serving afterwards', async () => {
    assert.deepEqual(await (await fetch(`${host.url}/api/items/7`)).json(), { params: { id: '7' } });
  });
});
