/**
 * Key Vault stand-ins for the wire tests, built on real key pairs (node:crypto): the same RSA-OAEP
 * and ECDSA mathematics Key Vault performs, behind the same interfaces the Key Vault adapters
 * implement. Not mocks of our own components: the code under test is the envelope and the JWS.
 */
import { constants, generateKeyPairSync, privateDecrypt, randomBytes, type KeyObject } from 'node:crypto';
import type { StoredKeyVersion } from '../../../local/keyvault/keys/model.js';
// The Key Vault emulator's ECDSA over a digest: node:crypto can only sign a message (it hashes it
// itself), while Key Vault's sign, and so our ReplySigner, takes the digest.
import { signEcdsa } from '../../../local/keyvault/crypto/digest-signatures.js';
import {
  encryptionKeyName,
  formatKeyId,
  signatureKeyName,
  type KeyEncryptionAlgorithm,
  type PublicRsaJwk,
  type ReplySigner,
  type RequestKeyVault,
} from '../../../shared/wire/index.js';

export const VAULT_URL = 'https://kv-writeback-prod.vault.azure.net';

export function newVersion(): string {
  return randomBytes(16).toString('hex');
}

/** An RSA key pair of one version of `writeback-{t}-enc`. */
export interface EncryptionKeyVersion {
  keyId: string;
  /** As `KeyClient.getKey(...).key` returns it: modulus and exponent as bytes. */
  publicJwk: PublicRsaJwk;
  privateKey: KeyObject;
}

export function generateEncryptionKey(
  tenantId: string,
  bits = 2048,
  vaultUrl = VAULT_URL,
): EncryptionKeyVersion {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const jwk = publicKey.export({ format: 'jwk' });
  const keyId = formatKeyId(vaultUrl, encryptionKeyName(tenantId), newVersion());
  return {
    keyId,
    publicJwk: {
      kid: keyId,
      kty: 'RSA',
      n: Buffer.from(jwk.n!, 'base64url'),
      e: Buffer.from(jwk.e!, 'base64url'),
    },
    privateKey,
  };
}

/** A vault holding private keys by versioned key id; records every call. */
export class TestVault implements RequestKeyVault {
  readonly calls: { operation: 'unwrapKey' | 'decrypt'; keyId: string }[] = [];
  private readonly keys = new Map<string, KeyObject>();

  constructor(readonly vaultUrl: string = VAULT_URL) {}

  add(version: EncryptionKeyVersion): this {
    this.keys.set(version.keyId, version.privateKey);
    return this;
  }

  remove(keyId: string): void {
    this.keys.delete(keyId);
  }

  async unwrapKey(keyId: string, algorithm: KeyEncryptionAlgorithm, wrappedKey: Buffer): Promise<Buffer> {
    this.calls.push({ operation: 'unwrapKey', keyId });
    return this.rsaDecrypt(keyId, algorithm, wrappedKey);
  }

  async decrypt(keyId: string, algorithm: KeyEncryptionAlgorithm, ciphertext: Buffer): Promise<Buffer> {
    this.calls.push({ operation: 'decrypt', keyId });
    return this.rsaDecrypt(keyId, algorithm, ciphertext);
  }

  private rsaDecrypt(keyId: string, algorithm: KeyEncryptionAlgorithm, value: Buffer): Buffer {
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`KeyNotFound: ${keyId}`);
    if (algorithm !== 'RSA-OAEP-256') throw new Error('BadParameter: algorithm');
    return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, value);
  }
}

/** One version of `writeback-{t}-sig`: an EC P-256 key pair and a ReplySigner over it. */
export interface SignatureKeyVersion {
  keyId: string;
  publicKey: KeyObject;
  privateKey: KeyObject;
  /** As `KeyClient.getKey(...).key` returns it: coordinates as bytes. */
  publicJwk: { kid: string; kty: 'EC'; crv: 'P-256'; x: Uint8Array; y: Uint8Array };
  signer: ReplySigner & { digests: Buffer[] };
}

export function generateSignatureKey(tenantId: string, vaultUrl = VAULT_URL): SignatureKeyVersion {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyId = formatKeyId(vaultUrl, signatureKeyName(tenantId), newVersion());
  const privateJwk = privateKey.export({ format: 'jwk' });
  const stored: StoredKeyVersion = {
    version: keyId.slice(keyId.lastIndexOf('/') + 1),
    kty: 'EC',
    keyOps: ['sign', 'verify'],
    privateJwk,
    attributes: { enabled: true, created: 0, updated: 0, exportable: false },
  };
  const digests: Buffer[] = [];
  return {
    keyId,
    publicKey,
    privateKey,
    publicJwk: {
      kid: keyId,
      kty: 'EC',
      crv: 'P-256',
      x: Buffer.from(privateJwk.x!, 'base64url'),
      y: Buffer.from(privateJwk.y!, 'base64url'),
    },
    signer: {
      kid: keyId,
      digests,
      async sign(algorithm, digest) {
        if (algorithm !== 'ES256' || digest.length !== 32) throw new Error('BadParameter');
        digests.push(Buffer.from(digest));
        return signEcdsa(stored, digest);
      },
    },
  };
}

/** Resolves public keys by versioned kid, as the replies function's cache does. */
export function resolverOf(...versions: SignatureKeyVersion[]) {
  const byKid = new Map(versions.map((v) => [v.keyId, v.publicKey]));
  return async (kid: string): Promise<KeyObject> => {
    const key = byKid.get(kid);
    if (!key) throw new Error(`KeyNotFound: ${kid}`);
    return key;
  };
}
