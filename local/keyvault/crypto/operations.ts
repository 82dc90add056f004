/**
 * The keys' cryptographic operations (encrypt, decrypt, wrapKey, unwrapKey, sign, verify) with Key
 * Vault's checks, in Key Vault's order: the request (algorithm, base64url), then the key's permitted
 * operations, then its state.
 *
 * State rules as observed on Key Vault: a disabled version refuses the private-key operations (decrypt,
 * unwrapKey, sign) but still encrypts, wraps and verifies; outside nbf..exp a version refuses encrypt,
 * wrapKey and sign, while decrypt, unwrapKey and verify keep working so that data is never locked in.
 */
import { constants, privateDecrypt, publicEncrypt } from 'node:crypto';
import {
  badParameter,
  keyDisabled,
  keyExpired,
  keyNotYetValid,
  operationNotPermitted,
} from '../http/errors.js';
import { nowSeconds, type KeyOperation, type StoredKeyVersion } from '../keys/model.js';
import { decodeBase64url, encodeBase64url } from './base64url.js';
import {
  hashBytes,
  signEcdsa,
  signPkcs1,
  signPss,
  verifyEcdsa,
  verifyPkcs1,
  verifyPss,
  type HashName,
} from './digest-signatures.js';
import { curveOf, isRsa, privateKeyOf, publicKeyOf, type CurveName } from './material.js';

export const CRYPTO_OPERATIONS = ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey', 'sign', 'verify'] as const;
export type CryptoOperation = (typeof CRYPTO_OPERATIONS)[number];

/** The RSA encryption schemes Key Vault offers for RSA keys: OAEP with its hash, or PKCS #1 v1.5. */
type EncryptionScheme = 'sha1' | 'sha256' | 'pkcs1';

const ENCRYPTION_ALGORITHMS: Readonly<Record<string, EncryptionScheme>> = {
  'RSA-OAEP': 'sha1',
  'RSA-OAEP-256': 'sha256',
  RSA1_5: 'pkcs1',
};

type SignatureScheme =
  { family: 'pkcs1' | 'pss'; hash: HashName } | { family: 'ecdsa'; hash: HashName; curve: CurveName };

const SIGNATURE_ALGORITHMS: Readonly<Record<string, SignatureScheme>> = {
  RS256: { family: 'pkcs1', hash: 'sha256' },
  RS384: { family: 'pkcs1', hash: 'sha384' },
  RS512: { family: 'pkcs1', hash: 'sha512' },
  PS256: { family: 'pss', hash: 'sha256' },
  PS384: { family: 'pss', hash: 'sha384' },
  PS512: { family: 'pss', hash: 'sha512' },
  ES256: { family: 'ecdsa', hash: 'sha256', curve: 'P-256' },
  ES384: { family: 'ecdsa', hash: 'sha384', curve: 'P-384' },
  ES512: { family: 'ecdsa', hash: 'sha512', curve: 'P-521' },
};

const PRIVATE_OPERATIONS: ReadonlySet<CryptoOperation> = new Set(['decrypt', 'unwrapKey', 'sign']);
const TIME_BOUND_OPERATIONS: ReadonlySet<CryptoOperation> = new Set(['encrypt', 'wrapKey', 'sign']);

export interface OperationRequest {
  alg?: unknown;
  value?: unknown;
  digest?: unknown;
}

export type OperationResult = { value: string } | { value: boolean };

export function performOperation(
  version: StoredKeyVersion,
  operation: CryptoOperation,
  request: OperationRequest,
): OperationResult {
  if (typeof request.alg !== 'string' || request.alg === '') throw badParameter('Property alg is required.');
  const alg = request.alg;
  const isSigning = operation === 'sign' || operation === 'verify';
  const scheme = isSigning ? SIGNATURE_ALGORITHMS[alg] : undefined;
  const encryption = isSigning ? undefined : ENCRYPTION_ALGORITHMS[alg];
  if (!scheme && !encryption)
    throw badParameter(`Invalid algorithm: ${alg} is not supported for ${operation}.`);
  const value = decodeBase64url(request.value, 'value');
  const digest = operation === 'verify' ? decodeBase64url(request.digest, 'digest') : value;

  if (scheme) checkSignatureKey(version, alg, scheme);
  else if (!isRsa(version.kty)) throw badParameter(`Invalid algorithm: ${alg} requires an RSA key.`);

  checkPermitted(version, operation);

  if (operation === 'sign' || operation === 'verify') {
    const s = scheme!;
    if (digest.length !== hashBytes(s.hash)) {
      throw badParameter(
        `Property digest has invalid value: ${alg} needs a ${hashBytes(s.hash)}-byte digest.`,
      );
    }
    if (operation === 'sign') return { value: encodeBase64url(sign(version, s, digest)) };
    return { value: verify(version, s, digest, value) };
  }
  const encrypting = operation === 'encrypt' || operation === 'wrapKey';
  return {
    value: encodeBase64url(
      encrypting ? rsaEncrypt(version, encryption!, value) : rsaDecrypt(version, encryption!, value),
    ),
  };
}

function checkSignatureKey(version: StoredKeyVersion, alg: string, scheme: SignatureScheme): void {
  if (scheme.family === 'ecdsa') {
    if (isRsa(version.kty)) throw badParameter(`Invalid algorithm: ${alg} requires an EC key.`);
    if (curveOf(version) !== scheme.curve) {
      throw badParameter(`Invalid algorithm: ${alg} requires a key on curve ${scheme.curve}.`);
    }
  } else if (!isRsa(version.kty)) {
    throw badParameter(`Invalid algorithm: ${alg} requires an RSA key.`);
  }
}

function checkPermitted(version: StoredKeyVersion, operation: CryptoOperation): void {
  if (!version.keyOps.includes(operation as KeyOperation)) throw operationNotPermitted(operation);
  const { enabled, nbf, exp } = version.attributes;
  if (!enabled && PRIVATE_OPERATIONS.has(operation)) throw keyDisabled(operation);
  if (TIME_BOUND_OPERATIONS.has(operation)) {
    const now = nowSeconds();
    if (nbf !== undefined && now < nbf) throw keyNotYetValid(operation);
    if (exp !== undefined && now >= exp) throw keyExpired(operation);
  }
}

function modulusBytesOf(version: StoredKeyVersion): number {
  return Math.ceil((privateKeyOf(version).asymmetricKeyDetails?.modulusLength ?? 0) / 8);
}

function rsaEncrypt(version: StoredKeyVersion, scheme: EncryptionScheme, plaintext: Buffer): Buffer {
  // OAEP takes 2 hashes + 2 bytes of the modulus; PKCS #1 v1.5 takes 11 bytes (RFC 8017 7.1.1, 7.2.1).
  const overhead = scheme === 'pkcs1' ? 11 : 2 * (scheme === 'sha1' ? 20 : 32) + 2;
  if (plaintext.length > modulusBytesOf(version) - overhead) {
    throw badParameter(
      'Property value has invalid value: the plaintext is too long for the key and algorithm.',
    );
  }
  const key = publicKeyOf(version);
  return scheme === 'pkcs1'
    ? publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, plaintext)
    : publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: scheme }, plaintext);
}

function rsaDecrypt(version: StoredKeyVersion, scheme: EncryptionScheme, ciphertext: Buffer): Buffer {
  const modulusBytes = modulusBytesOf(version);
  if (ciphertext.length !== modulusBytes) {
    throw badParameter(`Property value has invalid value: the ciphertext must be ${modulusBytes} bytes.`);
  }
  const undecryptable = () =>
    badParameter('Property value has invalid value: the ciphertext could not be decrypted.');
  const key = privateKeyOf(version);
  if (scheme !== 'pkcs1') {
    try {
      return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: scheme }, ciphertext);
    } catch {
      throw undecryptable();
    }
  }
  // Node (since 20) refuses PKCS #1 v1.5 decryption (CVE-2023-46809, the Marvin timing attack), while
  // Key Vault still offers RSA1_5. So the raw RSA result is unpadded here. Its timing may leak whether
  // the padding was valid: acceptable for local keys that never protect real secrets.
  let block: Buffer;
  try {
    block = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ciphertext);
  } catch {
    throw undecryptable();
  }
  const message = pkcs1Unpad(block);
  if (!message) throw undecryptable();
  return message;
}

/** EM = 0x00 || 0x02 || PS (at least 8 non-zero bytes) || 0x00 || M (RFC 8017 7.2.2); undefined if malformed. */
function pkcs1Unpad(block: Buffer): Buffer | undefined {
  if (block[0] !== 0x00 || block[1] !== 0x02) return undefined;
  const separator = block.indexOf(0x00, 2);
  if (separator < 10) return undefined;
  return block.subarray(separator + 1);
}

function sign(version: StoredKeyVersion, scheme: SignatureScheme, digest: Buffer): Buffer {
  switch (scheme.family) {
    case 'pkcs1':
      return signPkcs1(version, scheme.hash, digest);
    case 'pss':
      return signPss(version, scheme.hash, digest);
    case 'ecdsa':
      return signEcdsa(version, digest);
  }
}

function verify(
  version: StoredKeyVersion,
  scheme: SignatureScheme,
  digest: Buffer,
  signature: Buffer,
): boolean {
  switch (scheme.family) {
    case 'pkcs1':
      return verifyPkcs1(version, scheme.hash, digest, signature);
    case 'pss':
      return verifyPss(version, scheme.hash, digest, signature);
    case 'ecdsa':
      return verifyEcdsa(version, digest, signature);
  }
}
