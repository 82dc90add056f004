/**
 * Strict base64url (RFC 4648 §5) for Key Vault's binary fields. Buffer.from(s, 'base64url') silently
 * skips characters outside the alphabet; Key Vault refuses them, so the check is done here first.
 */
import { badParameter } from '../http/errors.js';

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** Decodes `value` of field `field`, or throws Key Vault's BadParameter. */
export function decodeBase64url(value: unknown, field: string): Buffer {
  if (typeof value !== 'string')
    throw badParameter(`Property ${field} is required and must be a base64url string.`);
  const unpadded = value.replace(/=+$/, '');
  if (!BASE64URL.test(value) || unpadded.length % 4 === 1) {
    throw badParameter(`Property ${field} has invalid value: it is not base64url encoded.`);
  }
  return Buffer.from(unpadded, 'base64url');
}

export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}
