/** Where a key rollover's new connection strings are written: back where the configuration got them. */
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CredentialsStore, writeFileAtomic } from '../../../agent/credentials-store.js';

const OLD = 'Endpoint=sb://ns/;SharedAccessKeyName=writeback-agent-listen;SharedAccessKey=old=';
const NEW = 'Endpoint=sb://ns/;SharedAccessKeyName=writeback-agent-listen;SharedAccessKey=new=';
const OLD_SEND = 'Endpoint=sb://ns/;SharedAccessKeyName=writeback-agent-send;SharedAccessKey=olds=';
const NEW_SEND = 'Endpoint=sb://ns/;SharedAccessKeyName=writeback-agent-send;SharedAccessKey=news=';
const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

describe('credentials store', () => {
  let root: string;
  let n = 0;
  let dir: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'agent-credentials-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const fresh = async () => {
    dir = join(root, `case-${n++}`);
    await mkdir(dir);
    return dir;
  };

  it('replaces a secret file atomically, 0600, and follows a symbolic link to its target', async () => {
    await fresh();
    const target = join(dir, 'real.secret');
    await writeFile(target, `${OLD}\n`, { mode: 0o644 });
    await symlink(target, join(dir, 'listen.secret'));
    await writeFile(join(dir, 'send.secret'), OLD_SEND);
    const store = new CredentialsStore(
      {
        requestsConnectionString: { kind: 'file', path: join(dir, 'listen.secret') },
        repliesConnectionString: { kind: 'file', path: join(dir, 'send.secret') },
      },
      join(dir, 'state'),
    );
    const saved = await store.save({ requestsConnectionString: NEW, repliesConnectionString: NEW_SEND });
    assert.deepEqual(saved, [
      { field: 'requestsConnectionString', to: 'file', path: target },
      { field: 'repliesConnectionString', to: 'file', path: join(dir, 'send.secret') },
    ]);
    assert.equal(await readFile(join(dir, 'listen.secret'), 'utf8'), `${NEW}\n`);
    assert.ok((await lstat(join(dir, 'listen.secret'))).isSymbolicLink(), 'the link stays a link');
    assert.equal(await modeOf(target), 0o600);
    assert.equal(await readFile(join(dir, 'send.secret'), 'utf8'), `${NEW_SEND}\n`);
    assert.deepEqual((await readdir(dir)).sort(), ['listen.secret', 'real.secret', 'send.secret']);
  });

  it('rewrites inline strings in the configuration file once, keeping the rest and its indentation', async () => {
    await fresh();
    const configFile = join(dir, 'agent.json');
    const config = {
      tenantId: 'contoso',
      serviceBus: { requestsConnectionString: OLD, repliesConnectionString: OLD_SEND },
      directory: { kind: 'memory', users: [{ userPrincipalName: 'a@b.c', password: { env: 'X' } }] },
      stateDirectory: 'state',
    };
    await writeFile(configFile, JSON.stringify(config, null, 4) + '\n', { mode: 0o640 });
    const store = new CredentialsStore(
      {
        requestsConnectionString: { kind: 'inline', configFile },
        repliesConnectionString: { kind: 'inline', configFile },
      },
      join(dir, 'state'),
    );
    const saved = await store.save({ requestsConnectionString: NEW, repliesConnectionString: NEW_SEND });
    assert.deepEqual(
      saved.map((p) => [p.field, p.to, p.path]),
      [
        ['requestsConnectionString', 'configFile', configFile],
        ['repliesConnectionString', 'configFile', configFile],
      ],
    );
    const text = await readFile(configFile, 'utf8');
    assert.equal(
      text,
      JSON.stringify(
        { ...config, serviceBus: { requestsConnectionString: NEW, repliesConnectionString: NEW_SEND } },
        null,
        4,
      ) + '\n',
    );
    assert.equal(await modeOf(configFile), 0o600);
  });

  it('writes only the field given', async () => {
    await fresh();
    const configFile = join(dir, 'agent.json');
    await writeFile(
      configFile,
      JSON.stringify({ serviceBus: { requestsConnectionString: OLD, repliesConnectionString: OLD_SEND } }),
    );
    const store = new CredentialsStore(
      {
        requestsConnectionString: { kind: 'inline', configFile },
        repliesConnectionString: { kind: 'inline', configFile },
      },
      join(dir, 'state'),
    );
    await store.save({ repliesConnectionString: NEW_SEND });
    assert.deepEqual(JSON.parse(await readFile(configFile, 'utf8')), {
      serviceBus: { requestsConnectionString: OLD, repliesConnectionString: NEW_SEND },
    });
  });

  it('puts a string from the environment in the state directory, and reports it pending until the variable has it', async () => {
    await fresh();
    const state = join(dir, 'state');
    const store = new CredentialsStore(
      {
        requestsConnectionString: { kind: 'env', name: 'REQUESTS' },
        repliesConnectionString: { kind: 'inline' },
      },
      state,
    );
    assert.deepEqual(
      await store.pending({ requestsConnectionString: OLD, repliesConnectionString: OLD_SEND }),
      [],
    );
    const saved = await store.save({ requestsConnectionString: NEW, repliesConnectionString: NEW_SEND });
    const requestsFile = join(state, 'credentials', 'requests-connection-string');
    const repliesFile = join(state, 'credentials', 'replies-connection-string');
    assert.deepEqual(saved, [
      {
        field: 'requestsConnectionString',
        to: 'stateDirectory',
        path: requestsFile,
        reason: 'environment',
        env: 'REQUESTS',
      },
      { field: 'repliesConnectionString', to: 'stateDirectory', path: repliesFile, reason: 'notInAFile' },
    ]);
    assert.equal(await readFile(requestsFile, 'utf8'), `${NEW}\n`);
    assert.equal(await modeOf(requestsFile), 0o600);
    assert.equal(await modeOf(join(state, 'credentials')), 0o700);
    assert.deepEqual(
      (await store.pending({ requestsConnectionString: OLD, repliesConnectionString: OLD_SEND })).map((p) => [
        p.field,
        p.env,
        p.path,
      ]),
      [['requestsConnectionString', 'REQUESTS', requestsFile]],
    );
    assert.deepEqual(
      await store.pending({ requestsConnectionString: NEW, repliesConnectionString: OLD_SEND }),
      [],
    );
  });

  it('falls back to the state directory, saying why, when the configured place cannot be written', async () => {
    await fresh();
    const state = join(dir, 'state');
    await writeFile(join(dir, 'a-file'), 'not a folder');
    const configFile = join(dir, 'agent.json');
    // The operator moved the string out of the file since the agent read it.
    await writeFile(
      configFile,
      JSON.stringify({
        serviceBus: { requestsConnectionString: OLD, repliesConnectionString: { file: 'x' } },
      }),
    );
    const store = new CredentialsStore(
      {
        requestsConnectionString: { kind: 'file', path: join(dir, 'a-file', 'listen.secret') },
        repliesConnectionString: { kind: 'inline', configFile },
      },
      state,
    );
    const saved = await store.save({ requestsConnectionString: NEW, repliesConnectionString: NEW_SEND });
    assert.deepEqual(saved, [
      {
        field: 'requestsConnectionString',
        to: 'stateDirectory',
        path: join(state, 'credentials', 'requests-connection-string'),
        reason: 'notWritable',
        configuredPath: join(dir, 'a-file', 'listen.secret'),
        code: 'ENOTDIR',
      },
      {
        field: 'repliesConnectionString',
        to: 'stateDirectory',
        path: join(state, 'credentials', 'replies-connection-string'),
        reason: 'notWritable',
        configuredPath: configFile,
        code: 'ECHANGED',
      },
    ]);
    assert.equal(JSON.parse(await readFile(configFile, 'utf8')).serviceBus.requestsConnectionString, OLD);
    for (const p of saved) assert.ok(!JSON.stringify(p).includes('new='), 'no value in a result');
  });

  it('writes atomically: no temporary file is left behind, and a failed rename leaves the old file', async () => {
    await fresh();
    const path = join(dir, 'secret');
    await writeFile(path, 'old');
    await writeFileAtomic(path, 'new');
    assert.equal(await readFile(path, 'utf8'), 'new');
    await mkdir(join(dir, 'folder'));
    await assert.rejects(writeFileAtomic(join(dir, 'folder'), 'x')); // rename onto a folder fails
    assert.deepEqual((await readdir(dir)).sort(), ['folder', 'secret']);
  });
});
