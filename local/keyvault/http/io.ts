/** Reading JSON request bodies and writing JSON responses. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from '../../http/messages.js';
import { badParameter, KeyVaultError } from './errors.js';

/** Key Vault refuses large requests; 256 KiB is far above any keys request (an RSA 4096 import is ~4 KiB). */
const MAX_BODY_BYTES = 256 * 1024;

export async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const body = await readBody(request, MAX_BODY_BYTES);
  if (body === undefined) throw new KeyVaultError(413, 'RequestTooLarge', 'The request body is too large.');
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw badParameter('The request body is not valid JSON.');
  }
}

/** Key Vault's responses are not to be cached. */
export const NO_CACHE: Readonly<Record<string, string>> = { 'Cache-Control': 'no-cache' };

export function sendError(response: ServerResponse, error: KeyVaultError): void {
  sendJson(response, error.status, error.body(), { ...NO_CACHE, ...error.headers });
}
