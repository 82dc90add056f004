/** Reading JSON request bodies and writing JSON responses. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badParameter, KeyVaultError } from './errors.js';

/** Key Vault refuses large requests; 256 KiB is far above any keys request (an RSA 4096 import is ~4 KiB). */
const MAX_BODY_BYTES = 256 * 1024;

export async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new KeyVaultError(413, 'RequestTooLarge', 'The request body is too large.');
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw badParameter('The request body is not valid JSON.');
  }
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  response.writeHead(status, {
    ...(text ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache',
    ...headers,
  });
  response.end(text);
}

export function sendError(response: ServerResponse, error: KeyVaultError): void {
  sendJson(response, error.status, error.body(), error.headers);
}
