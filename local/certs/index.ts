/**
 * The one local certificate authority of the development stack (docs/local-development.md). Every emulator HTTPS
 * endpoint serves a certificate issued by it; callers trust it through NODE_EXTRA_CA_CERTS pointing at
 * `<dir>/ca.pem`. Whichever component starts first creates it; later ones (and concurrent ones) reuse it.
 *
 * Keys come from node:crypto; node-forge builds the X.509 certificates (node:crypto cannot sign them).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';

export interface LocalCa {
  /** The CA certificate, PEM: what callers trust. */
  caPem: string;
  /** Path of the CA certificate file (`<dir>/ca.pem`), the value for NODE_EXTRA_CA_CERTS. */
  caPath: string;
  /** The CA private key, PEM (file mode 0600). */
  caKeyPem: string;
  caKeyPath: string;
}

export interface ServerCertificate {
  certPem: string;
  keyPem: string;
}

const CA_FILE = 'ca.pem';
const CA_KEY_FILE = 'ca-key.pem';
const CA_SUBJECT = 'Writeback pipeline local development CA';

function newRsaKeyPem(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** A positive serial number of 16 random bytes (the high bit cleared so it stays positive). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

function createCa(): { certPem: string; keyPem: string } {
  const { privateKeyPem, publicKeyPem } = newRsaKeyPem();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 86_400_000);
  const subject = [{ name: 'commonName', value: CA_SUBJECT }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: privateKeyPem };
}

async function readCa(dir: string): Promise<LocalCa | undefined> {
  const caPath = join(dir, CA_FILE);
  const caKeyPath = join(dir, CA_KEY_FILE);
  try {
    const [caPem, caKeyPem] = await Promise.all([readFile(caPath, 'utf8'), readFile(caKeyPath, 'utf8')]);
    // Both files exist only after both renames; a half-written pair cannot be read here.
    forge.pki.certificateFromPem(caPem);
    return { caPem, caPath, caKeyPem, caKeyPath };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Write `content` to `path` atomically: a temporary file in the same folder, then a rename. */
async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, content, { mode });
  await chmod(temporary, mode);
  await rename(temporary, path);
}

/**
 * The local CA in `dir`, created on first call. Two processes starting together may both create one;
 * the key is renamed into place first and the certificate last, and each caller re-reads the files, so
 * both end up with the same pair. (The rare loser's own pair is simply overwritten before anyone uses it.)
 */
export async function ensureLocalCa(dir: string): Promise<LocalCa> {
  const existing = await readCa(dir);
  if (existing) return existing;
  await mkdir(dir, { recursive: true });
  const { certPem, keyPem } = createCa();
  const keyPath = join(dir, CA_KEY_FILE);
  const certPath = join(dir, CA_FILE);
  // A pair is published by one process at a time: whoever links the lock first writes both files.
  const lockPath = join(dir, '.ca.lock');
  let owner = false;
  try {
    await writeFile(lockPath, String(process.pid), { flag: 'wx' });
    owner = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (owner) {
    await writeAtomically(keyPath, keyPem, 0o600);
    await writeAtomically(certPath, certPem, 0o644);
  }
  for (let attempt = 0; attempt < 200; attempt++) {
    const ca = await readCa(dir);
    if (ca && certMatchesKey(ca)) return ca;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`local CA in ${dir} is incomplete: delete ${dir} and start again`);
}

function certMatchesKey(ca: LocalCa): boolean {
  const cert = forge.pki.certificateFromPem(ca.caPem);
  const key = forge.pki.privateKeyFromPem(ca.caKeyPem);
  const publicKey = cert.publicKey as forge.pki.rsa.PublicKey;
  return publicKey.n.equals(key.n) && publicKey.e.equals(key.e);
}

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

/** A server certificate for `hosts` (IP addresses and DNS names), signed by the local CA. */
export function issueServerCertificate(
  ca: LocalCa,
  options: { hosts: readonly string[] },
): ServerCertificate {
  const { privateKeyPem, publicKeyPem } = newRsaKeyPem();
  const caCert = forge.pki.certificateFromPem(ca.caPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: options.hosts[0] ?? 'localhost' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: options.hosts.map((host) =>
        isIpAddress(host) ? { type: 7, ip: host } : { type: 2, value: host },
      ),
    },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.caKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: privateKeyPem };
}
