/**
 * A minimal fetch for the token issuer's discovery document and keys, over node:https with the
 * system's roots plus the local CA: the emulator may run in a process without NODE_EXTRA_CA_CERTS
 * (tests), and Node's global fetch takes no CA option.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';

const MAX_RESPONSE_BYTES = 1024 * 1024;

export type TrustedFetch = (url: string, options?: { signal?: AbortSignal }) => Promise<Response>;

export function createTrustedFetch(extraCaPem: string | undefined, timeoutMs: number): TrustedFetch {
  const ca = extraCaPem ? [...rootCertificates, extraCaPem] : undefined;
  return (url, options = {}) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      const signal = options.signal
        ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)])
        : AbortSignal.timeout(timeoutMs);
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        target,
        {
          method: 'GET',
          headers: { accept: 'application/json' },
          signal,
          ...(ca && target.protocol === 'https:' ? { ca } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`response of ${url} is too large`));
            else chunks.push(chunk);
          });
          res.on('end', () =>
            resolve(
              new Response(Buffer.concat(chunks), {
                status: res.statusCode ?? 500,
                headers: { 'content-type': String(res.headers['content-type'] ?? 'application/json') },
              }),
            ),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
}
