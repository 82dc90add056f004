/**
 * The development identity provider's token signing key: one RS256 key pair, kept in the data dir
 * (so tokens minted by `npm run token` validate against a running `npm start`, across restarts) or,
 * without a data dir, in memory only.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';

export const SIGNING_ALGORITHM = 'RS256';

/** The file in the data dir that holds the private key (a JWK, mode 0600). */
export const SIGNING_KEY_FILE = 'signing-key.json';

export interface SigningKey {
  /** Key id: the key's RFC 7638 thumbprint, as carried in every token header and the JWKS. */
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** The public half as published in the JWKS. */
  readonly publicJwk: JWK;
}

/** A fresh in-memory key (tests, or a provider without a data dir). */
export async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { modulusLength: 2048, extractable: true });
  return fromPrivateJwk(await exportJWK(privateKey));
}

/**
 * The key kept in `dataDir`, created on first use. Several processes may start at once (the server
 * and the token command), so the file is written under a temporary name and then hard-linked into
 * place: linking fails if another process got there first, and nobody ever reads a half-written file.
 */
export async function loadOrCreateSigningKey(dataDir: string): Promise<SigningKey> {
  const file = join(dataDir, SIGNING_KEY_FILE);
  const existing = await readKeyFile(file);
  if (existing) return existing;

  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(privateKey);
  const temporary = join(dataDir, `.${SIGNING_KEY_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
  await writeFile(temporary, JSON.stringify(jwk), { mode: 0o600, flag: 'wx' });
  try {
    await chmod(temporary, 0o600); // the umask cannot loosen it, but be explicit about the intent
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
  const stored = await readKeyFile(file);
  if (!stored) throw new Error(`The signing key file ${file} vanished while it was being created.`);
  return stored;
}

async function readKeyFile(file: string): Promise<SigningKey | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    // Never echo the file's content: it is a private key.
    throw new Error(`The signing key file ${file} is not valid JSON; delete it to get a new key.`);
  }
  if (jwk.kty !== 'RSA' || typeof jwk.d !== 'string') {
    throw new Error(
      `The signing key file ${file} does not hold a private RSA key; delete it to get a new key.`,
    );
  }
  return fromPrivateJwk(jwk);
}

async function fromPrivateJwk(jwk: JWK): Promise<SigningKey> {
  const publicJwk: JWK = { kty: 'RSA', n: jwk.n, e: jwk.e };
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateKey = (await importJWK({ ...jwk, alg: SIGNING_ALGORITHM }, SIGNING_ALGORITHM)) as CryptoKey;
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, use: 'sig', alg: SIGNING_ALGORITHM } };
}
