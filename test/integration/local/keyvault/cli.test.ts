/**
 * The command: it prints its banner and ready line, serves the SDK with the role assignments of its
 * config file, and exits cleanly on SIGTERM and when its parent goes away.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KeyClient } from '@azure/keyvault-keys';
import { startService, type ServiceProcess } from '../../../../local/process/child.js';
import { clientOptions, OFFICER, startStack, TENANT, type TestStack } from './support.js';

const CLI = fileURLToPath(new URL('../../../../local/keyvault/cli.js', import.meta.url));
const READY = /Key Vault emulator ready on (https:\/\/\S+)/;

describe('Key Vault emulator: command', () => {
  let stack: TestStack;
  let configFile: string;

  before(async () => {
    stack = await startStack();
    configFile = join(stack.dir, 'keyvault.json');
    await writeFile(
      configFile,
      JSON.stringify({
        issuer: stack.identity.issuer(TENANT),
        roleAssignments: [{ principalId: OFFICER, role: 'Key Vault Crypto Officer' }],
      }),
    );
  });
  after(async () => stack?.close());

  function start(env?: NodeJS.ProcessEnv): Promise<ServiceProcess> {
    return startService({
      name: 'keyvault',
      script: CLI,
      args: ['--port', '0', '--in-memory', '--certs-dir', stack.certsDir, '--config', configFile],
      ready: READY,
      ...(env ? { env } : {}),
    });
  }

  it('prints what runs where, serves the SDK, and stops on SIGTERM', async () => {
    const service = await start();
    try {
      const output = service.output();
      const vaultUri = READY.exec(output)![1]!;
      assert.match(output, /in memory only/);
      assert.match(
        output,
        new RegExp(`NODE_EXTRA_CA_CERTS=${stack.certsDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/ca.pem`),
      );
      assert.match(output, /1 role assignment/);
      const key = await new KeyClient(
        vaultUri,
        stack.credential(OFFICER),
        clientOptions(stack.ca),
      ).createEcKey('from-cli');
      assert.ok(key.id!.startsWith(`${vaultUri}/keys/from-cli/`));
    } finally {
      await service.stop('SIGTERM');
    }
    assert.equal(service.child.exitCode, 0);
  });

  it('turns on Key Vault’s limits and a page size from the environment (as `npm start` passes it on)', async () => {
    const service = await start({
      ...process.env,
      KEYVAULT_EMULATOR_THROTTLE: '1',
      KEYVAULT_EMULATOR_PAGE_SIZE: '2',
    });
    try {
      const output = service.output();
      assert.match(
        output,
        /throttling\s+on \(429 over Key Vault's limits; rotate counts as a create; no Retry-After\)/,
      );
      assert.match(output, /2 items per page/);
      const keys = new KeyClient(READY.exec(output)![1]!, stack.credential(OFFICER), clientOptions(stack.ca));
      await keys.createEcKey('limited', { hsm: true });
      for (let i = 0; i < 9; i++) await keys.rotateKey('limited');
      await assert.rejects(keys.rotateKey('limited'), (error: Error & { statusCode?: number }) => {
        assert.equal(error.statusCode, 429);
        return true;
      });
      const sizes: number[] = [];
      for await (const page of keys.listPropertiesOfKeyVersions('limited').byPage()) sizes.push(page.length);
      assert.deepEqual(sizes, [2, 2, 2, 2, 2]);
    } finally {
      await service.stop('SIGTERM');
    }
  });

  it('exits by itself when its parent goes away', async () => {
    const service = await start();
    const exited = once(service.child, 'exit');
    service.child.disconnect(); // what the child sees when its parent dies
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, service.output());
  });
});
