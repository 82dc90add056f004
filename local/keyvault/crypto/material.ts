/** Key material: generation, import and the public JWK, all with node:crypto. */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { badParameter } from '../http/errors.js';
import type { KeyType, StoredKeyVersion } from '../keys/model.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export const RSA_KEY_SIZES = [2048, 3072, 4096] as const;
export const DEFAULT_RSA_KEY_SIZE = 2048;
/** Key Vault's curve names and OpenSSL's. P-256K (secp256k1) is not offered by this emulator. */
export const CURVES = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' } as const;
export type CurveName = keyof typeof CURVES;

export function isCurveName(value: unknown): value is CurveName {
  return typeof value === 'string' && Object.hasOwn(CURVES, value);
}

export function isRsa(kty: KeyType): boolean {
  return kty === 'RSA' || kty === 'RSA-HSM';
}

/** A new private key as a JWK. Generation runs off the event loop (RSA 4096 takes a while). */
export async function generateKeyMaterial(
  kty: KeyType,
  options: { keySize?: number; publicExponent?: number; curve?: string },
): Promise<JsonWebKey> {
  if (isRsa(kty)) {
    if (options.curve !== undefined) throw badParameter('Property crv is not valid for RSA keys.');
    const size = options.keySize ?? DEFAULT_RSA_KEY_SIZE;
    if (!(RSA_KEY_SIZES as readonly number[]).includes(size)) {
      throw badParameter(
        `Unsupported key size (${size}). Supported sizes are [${RSA_KEY_SIZES.join(', ')}].`,
      );
    }
    if (options.publicExponent !== undefined && options.publicExponent !== 65537) {
      throw badParameter('Property public_exponent has invalid value: only 65537 is supported.');
    }
    const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: size, publicExponent: 65537 });
    return privateKey.export({ format: 'jwk' });
  }
  if (options.keySize !== undefined) throw badParameter('Property key_size is not valid for EC keys.');
  const curve = options.curve ?? 'P-256';
  if (!isCurveName(curve)) {
    throw badParameter(
      `Unsupported curve (${curve}). Supported curves are [${Object.keys(CURVES).join(', ')}].`,
    );
  }
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: CURVES[curve] });
  return privateKey.export({ format: 'jwk' });
}

/**
 * The private JWK of an import request, checked by parsing it with node:crypto. Key Vault only imports
 * keys with their private part: a vault key is one whose private operations happen in the vault.
 */
export function importKeyMaterial(kty: KeyType, jwk: Record<string, unknown>): JsonWebKey {
  const fields = isRsa(kty) ? ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] : ['crv', 'x', 'y', 'd'];
  const material: Record<string, string> = { kty: isRsa(kty) ? 'RSA' : 'EC' };
  for (const field of fields) {
    const value = jwk[field];
    if (typeof value !== 'string' || value === '') {
      throw badParameter(`Property key.${field} is required to import a ${kty} key with its private part.`);
    }
    material[field] = value;
  }
  if (!isRsa(kty) && !isCurveName(material.crv)) throw badParameter(`Unsupported curve (${material.crv}).`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: material as JsonWebKey, format: 'jwk' });
  } catch {
    throw badParameter('Property key has invalid value: the key material is not a valid key.');
  }
  if (isRsa(kty)) {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (!(RSA_KEY_SIZES as readonly number[]).includes(bits)) {
      throw badParameter(
        `Unsupported key size (${bits}). Supported sizes are [${RSA_KEY_SIZES.join(', ')}].`,
      );
    }
  }
  return key.export({ format: 'jwk' });
}

/** The public members of a version's key, as Key Vault returns them. */
export function publicJwkMembers(version: StoredKeyVersion): Record<string, string> {
  const jwk = version.privateJwk;
  return isRsa(version.kty) ? { n: jwk.n!, e: jwk.e! } : { crv: jwk.crv!, x: jwk.x!, y: jwk.y! };
}

const parsedKeys = new WeakMap<StoredKeyVersion, KeyObject>();

/** The version's private key, parsed once (parsing per operation would cost more than the operation). */
export function privateKeyOf(version: StoredKeyVersion): KeyObject {
  let key = parsedKeys.get(version);
  if (!key) {
    key = createPrivateKey({ key: version.privateJwk as JsonWebKey, format: 'jwk' });
    parsedKeys.set(version, key);
  }
  return key;
}

const publicKeys = new WeakMap<StoredKeyVersion, KeyObject>();

/** The version's public key, derived once. */
export function publicKeyOf(version: StoredKeyVersion): KeyObject {
  let key = publicKeys.get(version);
  if (!key) {
    key = createPublicKey(privateKeyOf(version));
    publicKeys.set(version, key);
  }
  return key;
}

/** Key Vault's curve name of an EC version. */
export function curveOf(version: StoredKeyVersion): CurveName | undefined {
  const crv = version.privateJwk.crv;
  return isCurveName(crv) ? crv : undefined;
}
