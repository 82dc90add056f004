/**
 * The parts of a reset that no code of ours can make faster, each measured alone on the same stack, one
 * at a time: a Service Bus round trip, a table point write and read, the agent's three Key Vault calls,
 * and the cloud's local crypto. `perReset` is how many times each lies on a reset's critical path (its
 * steps one after another, nothing in parallel):
 *
 * - HTTP function: the rate limits' query (a read) and the transaction that counts the attempt and
 *   records the operation (a write); sealing: RSA-OAEP-256 of the content key and of the password block;
 * - the request's trip to the agent (a Service Bus round trip);
 * - the agent: unwrapKey, decrypt, (the directory), sign;
 * - the reply's trip (a round trip; forwarding to writeback-replies happens inside the broker);
 * - the replies function: ES256 verify, the operation's read, the transaction that ends it.
 *
 * Left out (not irreducible parts): the caller's HTTP hop to the host, token validation, the directory,
 * and everything our own code does between these steps; the ratio of the reset's p50 to this sum is
 * what that costs.
 */
import {
  constants,
  createPublicKey,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AzureNamedKeyCredential, TableClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { CryptographyClient, KeyClient, type CryptographyClientOptions } from '@azure/keyvault-keys';
import { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { DEV_ACCOUNT, DEV_ACCOUNT_KEY } from '../local/azurite/index.js';
import { encryptionKeyName, signatureKeyName } from '../shared/wire/index.js';
import { summary, type StackEndpoints } from './local-stack.js';
import { roundTripsMs } from './servicebus-round-trip.js';

export interface PartFigure {
  part: string;
  /** Times on a reset's critical path. */
  perReset: number;
  p50Ms: number;
  p95Ms: number;
  samples: number;
}

/** The User-Agent prefix of the bench's own table calls (Azurite's counters tell them from the app's). */
export const BENCH_USER_AGENT = 'writeback-bench';
const ROUND_TRIP_QUEUE = 'bench-round-trip';
const TABLE = 'benchparts';

function figure(part: string, perReset: number, samples: number[]): PartFigure {
  const { p50, p95, n } = summary(samples, 3);
  return { part, perReset, p50Ms: p50, p95Ms: p95, samples: n };
}

/** `count` timings of `op` (ms), after `warmUp` unmeasured calls, one at a time. */
async function timed(count: number, op: (i: number) => unknown, warmUp = 20): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < warmUp + count; i++) {
    const start = performance.now();
    await op(i);
    if (i >= warmUp) samples.push(performance.now() - start);
  }
  return samples;
}

export interface PartsInputs {
  endpoints: StackEndpoints;
  tenant: string;
  /** A vault token of an identity with Crypto User on the tenant's keys (the developer's). */
  vaultToken: string;
  /** The request body size the pipeline sent (bytes), for the round trip. */
  requestBodyBytes: number;
  samples: number;
}

export async function measureIrreducibleParts(inputs: PartsInputs): Promise<PartFigure[]> {
  const { endpoints, samples } = inputs;
  const ca = await readFile(endpoints.caPath, 'utf8');
  const parts: PartFigure[] = [];

  const admin = new ServiceBusAdministrationClient(endpoints.serviceBusConnection, { tlsOptions: { ca } });
  if (!(await admin.queueExists(ROUND_TRIP_QUEUE))) await admin.createQueue(ROUND_TRIP_QUEUE);
  const bus = new ServiceBusClient(endpoints.serviceBusConnection);
  try {
    const body = randomBytes(Math.max(1, inputs.requestBodyBytes));
    parts.push(
      figure(
        'Service Bus send → peek-lock receive (emulator)',
        2,
        await roundTripsMs(bus, ROUND_TRIP_QUEUE, body, samples, 20),
      ),
    );
  } finally {
    await bus.close();
  }

  const table = new TableClient(
    `http://127.0.0.1:${endpoints.tablePort}/${DEV_ACCOUNT}`,
    TABLE,
    new AzureNamedKeyCredential(DEV_ACCOUNT, DEV_ACCOUNT_KEY),
    { allowInsecureConnection: true, userAgentOptions: { userAgentPrefix: BENCH_USER_AGENT } },
  );
  await table.createTable();
  const rowKey = (i: number) => `row-${i % 50}`;
  parts.push(
    figure(
      'Table point write (Azurite)',
      2,
      await timed(samples, (i) =>
        table.upsertEntity(
          { partitionKey: 'bench', rowKey: rowKey(i), state: 'pending', at: Date.now() },
          'Replace',
        ),
      ),
    ),
  );
  parts.push(
    figure('Table point read (Azurite)', 2, await timed(samples, (i) => table.getEntity('bench', rowKey(i)))),
  );

  const credential: TokenCredential = {
    getToken: async () => ({ token: inputs.vaultToken, expiresOnTimestamp: Date.now() + 3_600_000 }),
  };
  const options: CryptographyClientOptions = {
    tlsOptions: { ca },
    disableChallengeResourceVerification: true,
  };
  const keys = new KeyClient(endpoints.vaultUri, credential, options);
  const encryption = await keys.getKey(encryptionKeyName(inputs.tenant));
  const signature = await keys.getKey(signatureKeyName(inputs.tenant));
  const publicKey = createPublicKey({
    key: {
      kty: 'RSA',
      n: Buffer.from(encryption.key!.n!).toString('base64url'),
      e: Buffer.from(encryption.key!.e!).toString('base64url'),
    },
    format: 'jwk',
  });
  const oaep = (plaintext: Buffer) =>
    publicEncrypt(
      { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      plaintext,
    );
  const opener = new CryptographyClient(encryption.id!, credential, options);
  const signer = new CryptographyClient(signature.id!, credential, options);
  const wrapped = oaep(randomBytes(32));
  const block = oaep(randomBytes(40));
  const digest = randomBytes(32);
  parts.push(
    figure(
      'Key Vault unwrapKey RSA-OAEP-256 (emulator)',
      1,
      await timed(samples, () => opener.unwrapKey('RSA-OAEP-256', wrapped)),
    ),
  );
  parts.push(
    figure(
      'Key Vault decrypt RSA-OAEP-256 (emulator)',
      1,
      await timed(samples, () => opener.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: block })),
    ),
  );
  parts.push(
    figure('Key Vault sign ES256 (emulator)', 1, await timed(samples, () => signer.sign('ES256', digest))),
  );

  const contentKey = randomBytes(32);
  parts.push(
    figure('RSA-OAEP-256 encrypt (node:crypto)', 2, await timed(samples * 5, () => oaep(contentKey), 100)),
  );
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingInput = randomBytes(600);
  const jws = sign('sha256', signingInput, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' });
  parts.push(
    figure(
      'ES256 verify (node:crypto)',
      1,
      await timed(
        samples * 5,
        () => verify('sha256', signingInput, { key: pair.publicKey, dsaEncoding: 'ieee-p1363' }, jws),
        100,
      ),
    ),
  );
  return parts;
}

/** The critical path's irreducible sum: each part's p50 times its count on the path. */
export function criticalPathMs(parts: readonly PartFigure[]): number {
  return parts.reduce((sum, p) => sum + p.perReset * p.p50Ms, 0);
}
