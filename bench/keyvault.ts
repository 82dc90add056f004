/**
 * Benchmark of the Key Vault emulator alone (`npm run bench -- keyvault`; not in the default set, whose
 * report measures the agent's unwrap, decrypt and sign on the whole stack): the emulator runs in its own
 * process (the CLI, in memory), the official SDK in this one. RSA-2048 with RSA-OAEP-256 over a 32-byte plaintext (an AES key, as the
 * pipeline's envelopes carry). Encrypt and decrypt per second, one at a time and with 16 in flight.
 *
 *   node dist/bench/keyvault.js [--sequential N] [--concurrent N] [--in-flight C]
 *
 * Prints one JSON summary line last.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CryptographyClient, KeyClient, type CryptographyClientOptions } from '@azure/keyvault-keys';
import type { TokenCredential } from '@azure/identity';
import { ensureLocalCa, issueServerCertificate } from '../local/certs/index.js';
import { startIdentityProvider } from '../local/identity/index.js';
import { startService } from '../local/process/child.js';

const { values } = parseArgs({
  options: {
    sequential: { type: 'string', default: '500' },
    concurrent: { type: 'string', default: '3000' },
    'in-flight': { type: 'string', default: '16' },
  },
});
const sequential = Number(values.sequential);
const concurrent = Number(values.concurrent);
const inFlight = Number(values['in-flight']);

const TENANT = 'writeback';
const OFFICER = '11111111-1111-4111-8111-111111111111';

async function opsPerSecond(count: number, parallel: number, op: () => Promise<unknown>): Promise<number> {
  let started = 0;
  const begin = performance.now();
  const worker = async (): Promise<void> => {
    while (started < count) {
      started += 1;
      await op();
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return Math.round((count / (performance.now() - begin)) * 1000);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kv-bench-'));
  const certsDir = path.join(dir, 'certs');
  const ca = await ensureLocalCa(certsDir);
  const { certPem, keyPem } = issueServerCertificate(ca, { hosts: ['127.0.0.1', 'localhost'] });
  const identity = await startIdentityProvider({ port: 0, tls: { cert: certPem, key: keyPem } });
  const config = path.join(dir, 'keyvault.json');
  await writeFile(
    config,
    JSON.stringify({
      roleAssignments: [
        { principalId: OFFICER, role: 'Key Vault Crypto Officer', scope: '/' },
        { principalId: OFFICER, role: 'Key Vault Crypto User', scope: '/' },
      ],
    }),
  );
  const emulator = await startService({
    name: 'keyvault',
    script: fileURLToPath(new URL('../local/keyvault/cli.js', import.meta.url)),
    args: [
      '--port',
      '0',
      '--in-memory',
      '--certs-dir',
      certsDir,
      '--issuer',
      identity.issuer(TENANT),
      '--config',
      config,
    ],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.caPath },
    ready: /Key Vault emulator ready on (\S+)/,
  });
  try {
    // Real tokens from the development identity provider, minted once: the SDK caches them.
    const token = await identity.mintToken({
      tenant: TENANT,
      oid: OFFICER,
      audience: 'https://vault.azure.net',
      lifetimeSeconds: 3600,
    });
    const credential: TokenCredential = {
      getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }),
    };
    const options: CryptographyClientOptions = {
      tlsOptions: { ca: ca.caPem },
      disableChallengeResourceVerification: true,
    };
    const keys = new KeyClient(emulator.readyLine?.[1] ?? '', credential, options);
    const key = await keys.createRsaKey('bench-enc', { keySize: 2048 });
    // One reused client, as the pipeline and agent do: each new client costs a challenge and a GET.
    const crypto = new CryptographyClient(key.id!, credential, options);
    const plaintext = randomBytes(32);
    const { result: ciphertext } = await crypto.encrypt({ algorithm: 'RSA-OAEP-256', plaintext });

    const encrypt = () => crypto.encrypt({ algorithm: 'RSA-OAEP-256', plaintext });
    const decrypt = () => crypto.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext });
    await opsPerSecond(50, 4, encrypt); // warm-up: connections, JIT
    const summary = {
      benchmark: 'keyvault-emulator',
      key: 'RSA-2048, RSA-OAEP-256, 32-byte plaintext',
      encryptPerSecond: {
        sequential: await opsPerSecond(sequential, 1, encrypt),
        [`inFlight${inFlight}`]: await opsPerSecond(concurrent, inFlight, encrypt),
      },
      decryptPerSecond: {
        sequential: await opsPerSecond(sequential, 1, decrypt),
        [`inFlight${inFlight}`]: await opsPerSecond(concurrent, inFlight, decrypt),
      },
    };
    console.log(JSON.stringify(summary));
  } finally {
    await emulator.stop();
    await identity.close();
    await rm(dir, { recursive: true, force: true });
  }
}

void main();
