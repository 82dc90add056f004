/**
 * Signatures over a digest, which is what Key Vault's sign and verify take. node:crypto only signs
 * messages (it hashes them itself), so the encodings around its raw primitives are written here:
 *  - RS*: PKCS #1 v1.5 (RFC 8017 §9.2) through privateEncrypt/publicDecrypt with PKCS #1 padding;
 *  - PS*: EMSA-PSS (RFC 8017 §9.1), salt length = hash length, around raw RSA (no padding);
 *  - ES*: ECDSA (FIPS 186-4 §6.4) where node:crypto's ECDH does every point multiplication and only
 *    the arithmetic modulo the group order is done here with bigint.
 * This is a development emulator: the bigint arithmetic is not constant-time.
 */
import {
  constants,
  createECDH,
  createHash,
  privateEncrypt,
  publicDecrypt,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import type { StoredKeyVersion } from '../keys/model.js';
import { CURVES, curveOf, privateKeyOf, publicKeyOf, type CurveName } from './material.js';

export type HashName = 'sha256' | 'sha384' | 'sha512';

const DIGEST_INFO_PREFIX: Record<HashName, Buffer> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

const HASH_BYTES: Record<HashName, number> = { sha256: 32, sha384: 48, sha512: 64 };

/** Group orders of the curves (FIPS 186-4 D.1.2). */
const ORDERS: Record<CurveName, bigint> = {
  'P-256': BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551'),
  'P-384': BigInt(
    '0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973',
  ),
  'P-521': BigInt(
    '0x1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409',
  ),
};

// ---- RSA -------------------------------------------------------------------------------------

function modulusBytes(version: StoredKeyVersion): number {
  return Math.ceil((privateKeyOf(version).asymmetricKeyDetails?.modulusLength ?? 0) / 8);
}

export function signPkcs1(version: StoredKeyVersion, hash: HashName, digest: Buffer): Buffer {
  return privateEncrypt(
    { key: privateKeyOf(version), padding: constants.RSA_PKCS1_PADDING },
    Buffer.concat([DIGEST_INFO_PREFIX[hash], digest]),
  );
}

export function verifyPkcs1(
  version: StoredKeyVersion,
  hash: HashName,
  digest: Buffer,
  signature: Buffer,
): boolean {
  if (signature.length !== modulusBytes(version)) return false;
  try {
    const recovered = publicDecrypt(
      { key: publicKeyOf(version), padding: constants.RSA_PKCS1_PADDING },
      signature,
    );
    const expected = Buffer.concat([DIGEST_INFO_PREFIX[hash], digest]);
    return recovered.length === expected.length && timingSafeEqual(recovered, expected);
  } catch {
    return false;
  }
}

function mgf1(hash: HashName, seed: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let counter = 0; blocks.length * HASH_BYTES[hash] < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    blocks.push(createHash(hash).update(seed).update(c).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function pssHash(hash: HashName, digest: Buffer, salt: Buffer): Buffer {
  return createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
}

export function signPss(version: StoredKeyVersion, hash: HashName, digest: Buffer): Buffer {
  const hLen = HASH_BYTES[hash];
  const modBits = privateKeyOf(version).asymmetricKeyDetails?.modulusLength ?? 0;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(hLen);
  const h = pssHash(hash, digest, salt);
  const db = Buffer.alloc(emLen - hLen - 1);
  db[emLen - 2 * hLen - 2] = 0x01;
  salt.copy(db, emLen - 2 * hLen - 1);
  const mask = mgf1(hash, h, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([db, h, Buffer.from([0xbc])]);
  const block = Buffer.concat([Buffer.alloc(Math.ceil(modBits / 8) - em.length), em]);
  return privateEncrypt({ key: privateKeyOf(version), padding: constants.RSA_NO_PADDING }, block);
}

export function verifyPss(
  version: StoredKeyVersion,
  hash: HashName,
  digest: Buffer,
  signature: Buffer,
): boolean {
  const hLen = HASH_BYTES[hash];
  const modBits = privateKeyOf(version).asymmetricKeyDetails?.modulusLength ?? 0;
  if (signature.length !== Math.ceil(modBits / 8)) return false;
  let block: Buffer;
  try {
    block = publicDecrypt({ key: publicKeyOf(version), padding: constants.RSA_NO_PADDING }, signature);
  } catch {
    return false;
  }
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  if (block.subarray(0, block.length - emLen).some((b) => b !== 0)) return false;
  const em = block.subarray(block.length - emLen);
  if (em[emLen - 1] !== 0xbc) return false;
  const topBits = 0xff >> (8 * emLen - emBits);
  if ((em[0]! & ~topBits) !== 0) return false;
  const db = Buffer.from(em.subarray(0, emLen - hLen - 1));
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  const mask = mgf1(hash, h, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= topBits;
  const separator = emLen - 2 * hLen - 2;
  if (separator < 0 || db.subarray(0, separator).some((b) => b !== 0) || db[separator] !== 0x01) return false;
  const expected = pssHash(hash, digest, db.subarray(db.length - hLen));
  return timingSafeEqual(expected, h);
}

// ---- ECDSA -----------------------------------------------------------------------------------

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function toBytes(value: bigint, length: number): Buffer {
  return Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
}

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function modPow(base: bigint, exponent: bigint, m: bigint): bigint {
  let result = 1n;
  let b = mod(base, m);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
  }
  return result;
}

/** The inverse modulo the (prime) group order, by Fermat's little theorem. */
function invert(a: bigint, n: bigint): bigint {
  return modPow(a, n - 2n, n);
}

interface EcContext {
  n: bigint;
  nBits: number;
  /** Bytes of a scalar and of each half of a signature. */
  size: number;
  opensslCurve: string;
  d: bigint;
}

function ecContext(version: StoredKeyVersion): EcContext {
  const curve = curveOf(version);
  if (!curve) throw new Error('not an EC key of a supported curve');
  const n = ORDERS[curve];
  const nBits = n.toString(2).length;
  return {
    n,
    nBits,
    size: Math.ceil(nBits / 8),
    opensslCurve: CURVES[curve],
    d: toBigInt(Buffer.from(version.privateJwk.d!, 'base64url')),
  };
}

/** The digest as an integer: its leftmost bits, as many as the order has (FIPS 186-4 §6.4). */
function digestInteger(digest: Buffer, nBits: number): bigint {
  const z = toBigInt(digest);
  const excess = digest.length * 8 - nBits;
  return excess > 0 ? z >> BigInt(excess) : z;
}

/** The x coordinate of scalar·G, computed by OpenSSL through ECDH. */
function baseMultipleX(context: EcContext, scalar: bigint): bigint {
  const ecdh = createECDH(context.opensslCurve);
  ecdh.setPrivateKey(toBytes(scalar, context.size));
  const point = ecdh.getPublicKey(); // 0x04 || X || Y
  const coordinateBytes = (point.length - 1) / 2;
  return toBigInt(point.subarray(1, 1 + coordinateBytes));
}

function randomScalar(context: EcContext): bigint {
  for (;;) {
    const candidate = toBigInt(randomBytes(context.size)) >> BigInt(context.size * 8 - context.nBits);
    if (candidate > 0n && candidate < context.n) return candidate;
  }
}

/** ECDSA over `digest`; the signature is r || s (IEEE P1363), as Key Vault returns it. */
export function signEcdsa(version: StoredKeyVersion, digest: Buffer): Buffer {
  const context = ecContext(version);
  const { n } = context;
  const z = digestInteger(digest, context.nBits);
  for (;;) {
    const k = randomScalar(context);
    const r = mod(baseMultipleX(context, k), n);
    if (r === 0n) continue;
    const s = mod(invert(k, n) * (z + r * context.d), n);
    if (s === 0n) continue;
    return Buffer.concat([toBytes(r, context.size), toBytes(s, context.size)]);
  }
}

/**
 * ECDSA verification. u1·G + u2·Q equals (u1 + u2·d)·G since Q = d·G, and the vault holds d: so one
 * multiplication of the generator by OpenSSL replaces the general point arithmetic.
 */
export function verifyEcdsa(version: StoredKeyVersion, digest: Buffer, signature: Buffer): boolean {
  const context = ecContext(version);
  const { n } = context;
  if (signature.length !== 2 * context.size) return false;
  const r = toBigInt(signature.subarray(0, context.size));
  const s = toBigInt(signature.subarray(context.size));
  if (r <= 0n || r >= n || s <= 0n || s >= n) return false;
  const w = invert(s, n);
  const u1 = mod(digestInteger(digest, context.nBits) * w, n);
  const u2 = mod(r * w, n);
  const t = mod(u1 + u2 * context.d, n);
  if (t === 0n) return false;
  return mod(baseMultipleX(context, t), n) === r;
}

export function hashBytes(hash: HashName): number {
  return HASH_BYTES[hash];
}
