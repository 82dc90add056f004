/**
 * A real Active Directory domain controller for tests: Samba 4 provisioned into a temporary folder and
 * run as one child process on loopback (recipe: shared/notes/samba-ad.md).
 *
 * Samba's ports are fixed (389, 636, 3268, 3269), so only one DC can run on a machine at a time. Every
 * test that needs one goes through startSambaDc(), which takes an exclusive lock file in the OS temp
 * folder first (waiting a bounded time for another test file or another test run to finish). A lock
 * left by a process that died is taken over, after stopping the DC that process had started.
 *
 * The DC is set up for the tests: password policy over LDAP on the domain object, and the demo users
 * (alice, bob; da with adminCount=1 in Domain Admins; gone, disabled) — each with a password the test
 * chooses.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import { constants as osConstants, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { Attribute, Change, Client, EqualityFilter, InvalidCredentialsError } from 'ldapts';
import { BindData, bindDataCode } from '../../agent/directory/ad-answers.js';
import { secondsToAdInterval } from '../../agent/directory/ad-time.js';
import { sidFromBinary } from '../../agent/directory/sid.js';
import type { DirectoryPolicy } from '../../shared/domain/index.js';

const run = promisify(execFile);

export const SAMBA_REALM = 'CORP.EXAMPLE.TEST';
export const SAMBA_DNS_DOMAIN = 'corp.example.test';
export const SAMBA_BASE_DN = 'DC=corp,DC=example,DC=test';
/** Samba's certificate names the host this way (CN, no SAN); TLS clients verify against it. */
export const SAMBA_TLS_SERVER_NAME = 'DC1.corp.example.test';
export const SAMBA_LDAPS_URL = 'ldaps://127.0.0.1:636';
export const SAMBA_LDAP_URL = 'ldap://127.0.0.1:389';
const FIXED_PORTS = [389, 636, 3268, 3269];
const LOCK_PATH = join(tmpdir(), 'writeback-samba-dc.lock');

/** The policy docs/local-development.md gives the demo tenant (and these tests). */
export const TEST_POLICY: DirectoryPolicy = {
  minLength: 10,
  complexity: true,
  historyLength: 5,
  minimumAgeSeconds: 0,
  lockoutThreshold: 5,
};

/** The full path of an executable on PATH (or in /usr/sbin, where Debian puts samba). */
function executable(name: string): string | undefined {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).concat('/usr/sbin', '/usr/bin');
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** Why a Samba DC cannot run here, or undefined when it can. */
export function sambaUnavailableReason(): string | undefined {
  if (!executable('samba') || !executable('samba-tool')) {
    return 'Samba is not installed (apt-get install samba-ad-dc samba-ad-provision; .ci/run does this)';
  }
  if (process.getuid?.() !== 0) return 'a Samba DC needs root here (it binds ports 389 and 636)';
  return undefined;
}

/**
 * How a Samba suite runs here: `skip` for node:test (the reason, or false), and `unavailable` for its
 * before() to throw when CI requires Samba (WRITEBACK_REQUIRE_SAMBA=1) but it cannot run. Says so
 * loudly on stderr whenever the suite will not really run.
 */
export function sambaSuite(
  suite: string,
  consequence = '',
): { skip: string | false; unavailable: string | undefined } {
  const unavailable = sambaUnavailableReason();
  const required = process.env['WRITEBACK_REQUIRE_SAMBA'] === '1';
  if (unavailable) {
    const banner = '!'.repeat(100);
    console.error(
      `\n${banner}\n!! ${suite} ${required ? 'FAILS' : 'is SKIPPED'}: ${unavailable}.\n` +
        (consequence ? `!! ${consequence}\n` : '') +
        `${banner}\n`,
    );
  }
  return { skip: unavailable && !required ? unavailable : false, unavailable };
}

export type SambaLogon = 'ok' | 'badPassword' | 'lockedOut' | 'mustChange' | 'disabled' | 'expired';

export interface SambaUser {
  name: string;
  dn: string;
  userPrincipalName: string;
  sid: string;
}

export interface SambaUserSpec {
  name: string;
  password: string;
  displayName?: string;
  adminCount?: number;
  disabled?: boolean;
  /** Also put the user into Domain Admins (what makes an account protected on Windows AD). */
  domainAdmin?: boolean;
}

export interface SambaDc {
  readonly dir: string;
  readonly caCertificate: string;
  readonly adminUpn: string;
  readonly adminPassword: string;
  readonly domainSid: string;
  /** Creates a user over LDAP as the administrator. */
  createUser(spec: SambaUserSpec): Promise<SambaUser>;
  /** The demo users of docs/local-development.md (alice, bob, da, gone), all with `password`. */
  createDemoUsers(password: string): Promise<Record<'alice' | 'bob' | 'da' | 'gone', SambaUser>>;
  setPolicy(policy: Partial<DirectoryPolicy>): Promise<void>;
  /** A simple bind as the user: what an interactive logon would say. Counts towards lockout. */
  logOn(user: SambaUser, password: string): Promise<SambaLogon>;
  /** Raw password-state attributes of a user. */
  passwordState(user: SambaUser): Promise<{ pwdLastSet: string; lockoutTime: string; badPwdCount: string }>;
  /** Stops the samba process only (the domain stays provisioned); `startServer` brings it back. */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  /** Stops samba, removes the folder, releases the lock. */
  stop(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface LockRecord {
  pid: number;
  dir: string;
  sambaPid?: number;
}

function writeLock(record: LockRecord, flag: 'wx' | 'w'): void {
  writeFileSync(LOCK_PATH, JSON.stringify(record), { flag });
}

/** Takes the machine-wide DC lock, waiting up to `waitMs` for another holder to finish. */
async function acquireLock(dir: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      writeLock({ pid: process.pid, dir }, 'wx');
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: LockRecord | undefined;
    try {
      holder = JSON.parse(readFileSync(LOCK_PATH, 'utf8')) as LockRecord;
    } catch {
      // Being written or removed right now; look again shortly.
    }
    if (holder && !alive(holder.pid)) {
      // The holder died without cleaning up: stop the DC it started (only if it is that DC), take over.
      if (holder.sambaPid && alive(holder.sambaPid) && isSambaOf(holder.sambaPid, holder.dir)) {
        process.kill(holder.sambaPid, 'SIGKILL');
        await waitForExit(holder.sambaPid);
      }
      if (holder.dir.startsWith(join(tmpdir(), 'samba-dc-')))
        rmSync(holder.dir, { recursive: true, force: true });
      rmSync(LOCK_PATH, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`another test run (pid ${holder?.pid ?? '?'}) holds the Samba DC lock ${LOCK_PATH}`);
    }
    await sleep(250);
  }
}

/**
 * Whether `pid` is the samba process serving `dir`. Samba renames its process title ("samba: root
 * process"), so the command line does not tell; its executable and its open database files do.
 */
function isSambaOf(pid: number, dir: string): boolean {
  try {
    if (!/\/samba$/.test(readlinkSync(`/proc/${pid}/exe`))) return false;
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(`${dir}/`);
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

async function waitForExit(pid: number): Promise<void> {
  for (let waited = 0; alive(pid) && waited < 10_000; waited += 50) await sleep(50);
}

function releaseLock(): void {
  try {
    const holder = JSON.parse(readFileSync(LOCK_PATH, 'utf8')) as LockRecord;
    if (holder.pid === process.pid) unlinkSync(LOCK_PATH);
  } catch {
    // Already gone.
  }
}

async function portsInUse(): Promise<number[]> {
  const lines = await Promise.all(
    ['/proc/net/tcp', '/proc/net/tcp6'].map((file) => readFile(file, 'utf8').catch(() => '')),
  );
  const listening = new Set<number>();
  for (const line of lines.join('\n').split('\n')) {
    const fields = line.trim().split(/\s+/);
    // local_address is HEXIP:HEXPORT; state 0A is LISTEN.
    if (fields[3] === '0A') listening.add(Number.parseInt(fields[1]?.split(':')[1] ?? '', 16));
  }
  return FIXED_PORTS.filter((port) => listening.has(port));
}

/** Resolves once the DC completes a TLS handshake on 636 with its own CA (not a mere open port). */
async function waitForTls(
  caPath: string,
  child: ChildProcess,
  output: () => string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `samba exited (${child.exitCode ?? child.signalCode}) before serving LDAPS:\n${output()}`,
      );
    }
    let ca: string | undefined;
    try {
      ca = readFileSync(caPath, 'utf8');
    } catch {
      // Samba writes its certificates on first start.
    }
    if (ca) {
      const ok = await new Promise<boolean>((resolve) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: 636, ca, servername: SAMBA_TLS_SERVER_NAME });
        socket.setTimeout(2_000, () => socket.destroy());
        socket.once('secureConnect', () => {
          socket.end();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
        socket.once('close', () => resolve(false));
      });
      if (ok) return;
    }
    if (Date.now() > deadline)
      throw new Error(`samba did not serve LDAPS within ${timeoutMs} ms:\n${output()}`);
    await sleep(100);
  }
}

const unicodePwd = (password: string) => Buffer.from(`"${password}"`, 'utf16le');
const replace = (type: string, value: string) =>
  new Change({ operation: 'replace', modification: new Attribute({ type, values: [value] }) });

/**
 * Provisions a fresh domain in a temporary folder, starts Samba, waits for LDAPS and sets the test
 * policy. Call `stop()` when done (an exit hook stops Samba too if a test process ends without it).
 */
export async function startSambaDc(
  options: { lockWaitMs?: number; policy?: DirectoryPolicy } = {},
): Promise<SambaDc> {
  const unavailable = sambaUnavailableReason();
  if (unavailable) throw new Error(unavailable);
  const dir = await mkdtemp(join(tmpdir(), 'samba-dc-'));
  await acquireLock(dir, options.lockWaitMs ?? 180_000);

  let child: ChildProcess | undefined;
  let output = '';
  const onExit = () => {
    // Synchronous last resort when the test process ends without stop().
    if (child?.pid && child.exitCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    releaseLock();
    rmSync(dir, { recursive: true, force: true });
  };
  // A signal ends the process without 'exit' handlers: clean up, then end as the signal would have
  // (unless someone else also listens for it and decides).
  const onSignal = (signal: NodeJS.Signals) => {
    onExit();
    unhook();
    if (process.listenerCount(signal) === 0) process.exit(128 + (osConstants.signals[signal] ?? 0));
  };
  const unhook = () => {
    process.removeListener('exit', onExit);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(signal, onSignal);
  };
  process.once('exit', onExit);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, onSignal);

  const adminPassword = 'Admin#Samba-Test-1';
  const adminUpn = `Administrator@${SAMBA_DNS_DOMAIN}`;
  const smbConf = join(dir, 'etc', 'smb.conf');
  const caPath = join(dir, 'private', 'tls', 'ca.pem');

  const startServer = async () => {
    const busy = await portsInUse();
    if (busy.length) throw new Error(`ports ${busy.join(', ')} are in use: is another Samba DC running?`);
    output = '';
    child = spawn(executable('samba')!, ['-s', smbConf, '-M', 'single', '-F'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    writeLock({ pid: process.pid, dir, ...(child.pid ? { sambaPid: child.pid } : {}) }, 'w');
    await waitForTls(caPath, child, () => output);
  };

  const stopServer = async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await run(
      executable('samba-tool')!,
      [
        'domain',
        'provision',
        `--realm=${SAMBA_REALM}`,
        '--domain=CORP',
        '--server-role=dc',
        '--dns-backend=SAMBA_INTERNAL',
        '--host-name=dc1',
        `--adminpass=${adminPassword}`,
        `--targetdir=${dir}`,
        '--option=interfaces=lo',
        '--option=bind interfaces only=yes',
        '--option=server services=ldap',
        `--option=log file=${dir}/log/log.%m`,
        `--option=pid directory=${dir}/run`,
      ],
      { timeout: 120_000, maxBuffer: 10 * 1024 * 1024 },
    ).catch((error: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(`samba-tool domain provision failed: ${error.message}\n${error.stderr ?? ''}`);
    });
    // Samba accepts the previous password for an hour after a change by default (as Windows does for
    // NTLM); the tests check that an old password stops working at once. Provision does not keep this
    // option, so it goes into smb.conf's [global] section here.
    const conf = await readFile(smbConf, 'utf8');
    await writeFile(smbConf, conf.replace('[global]\n', '[global]\n\told password allowed period = 0\n'));
    await startServer();
  } catch (error) {
    await stopServer();
    unhook();
    onExit();
    throw error;
  }

  const caCertificate = readFileSync(caPath, 'utf8');
  const newClient = () =>
    new Client({
      url: SAMBA_LDAPS_URL,
      timeout: 10_000,
      connectTimeout: 5_000,
      tlsOptions: { ca: caCertificate, servername: SAMBA_TLS_SERVER_NAME },
    });
  const asAdmin = async <T>(work: (client: Client) => Promise<T>): Promise<T> => {
    const client = newClient();
    try {
      await client.bind(adminUpn, adminPassword);
      return await work(client);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  };

  const domainSid = await asAdmin(async (client) => {
    const { searchEntries } = await client.search(SAMBA_BASE_DN, {
      scope: 'base',
      attributes: ['objectSid'],
      explicitBufferAttributes: ['objectSid'],
    });
    return sidFromBinary(searchEntries[0]!['objectSid'] as Buffer);
  });

  const setPolicy = (policy: Partial<DirectoryPolicy>) =>
    asAdmin(async (client) => {
      const changes: Change[] = [];
      if (policy.minLength !== undefined) changes.push(replace('minPwdLength', String(policy.minLength)));
      if (policy.complexity !== undefined)
        changes.push(replace('pwdProperties', policy.complexity ? '1' : '0'));
      if (policy.historyLength !== undefined)
        changes.push(replace('pwdHistoryLength', String(policy.historyLength)));
      if (policy.minimumAgeSeconds !== undefined) {
        changes.push(replace('minPwdAge', secondsToAdInterval(policy.minimumAgeSeconds)));
      }
      if (policy.lockoutThreshold !== undefined) {
        changes.push(replace('lockoutThreshold', String(policy.lockoutThreshold)));
      }
      if (changes.length) await client.modify(SAMBA_BASE_DN, changes);
    });

  const createUser = (spec: SambaUserSpec) =>
    asAdmin(async (client) => {
      const dn = `CN=${spec.name},CN=Users,${SAMBA_BASE_DN}`;
      const userPrincipalName = `${spec.name}@${SAMBA_DNS_DOMAIN}`;
      await client.add(dn, [
        new Attribute({ type: 'objectClass', values: ['user'] }),
        new Attribute({ type: 'sAMAccountName', values: [spec.name] }),
        new Attribute({ type: 'userPrincipalName', values: [userPrincipalName] }),
        ...(spec.displayName ? [new Attribute({ type: 'displayName', values: [spec.displayName] })] : []),
        new Attribute({ type: 'unicodePwd', values: [unicodePwd(spec.password)] }),
        // NORMAL_ACCOUNT (0x200), plus ACCOUNTDISABLE (0x2) when asked.
        new Attribute({ type: 'userAccountControl', values: [String(0x200 | (spec.disabled ? 0x2 : 0))] }),
      ]);
      if (spec.adminCount !== undefined)
        await client.modify(dn, [replace('adminCount', String(spec.adminCount))]);
      if (spec.domainAdmin) {
        await client.modify(`CN=Domain Admins,CN=Users,${SAMBA_BASE_DN}`, [
          new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [dn] }) }),
        ]);
      }
      const { searchEntries } = await client.search(SAMBA_BASE_DN, {
        scope: 'sub',
        filter: new EqualityFilter({ attribute: 'userPrincipalName', value: userPrincipalName }),
        attributes: ['objectSid'],
        explicitBufferAttributes: ['objectSid'],
      });
      return {
        name: spec.name,
        dn,
        userPrincipalName,
        sid: sidFromBinary(searchEntries[0]!['objectSid'] as Buffer),
      };
    });

  const logOn = async (user: SambaUser, password: string): Promise<SambaLogon> => {
    const client = newClient();
    try {
      await client.bind(user.dn, password);
      return 'ok';
    } catch (error) {
      if (!(error instanceof InvalidCredentialsError)) throw error;
      switch (bindDataCode(error.message)) {
        case BindData.LOGON_FAILURE:
          return 'badPassword';
        case BindData.ACCOUNT_LOCKED_OUT:
          return 'lockedOut';
        case BindData.PASSWORD_MUST_CHANGE:
          return 'mustChange';
        case BindData.ACCOUNT_DISABLED:
          return 'disabled';
        case BindData.PASSWORD_EXPIRED:
          return 'expired';
        default:
          throw error;
      }
    } finally {
      await client.unbind().catch(() => undefined);
    }
  };

  await setPolicy(options.policy ?? TEST_POLICY);

  return {
    dir,
    caCertificate,
    adminUpn,
    adminPassword,
    domainSid,
    createUser,
    async createDemoUsers(password) {
      return {
        alice: await createUser({ name: 'alice', password, displayName: 'Alice Example' }),
        bob: await createUser({ name: 'bob', password, displayName: 'Bob Example' }),
        da: await createUser({ name: 'da', password, adminCount: 1, domainAdmin: true }),
        gone: await createUser({ name: 'gone', password, disabled: true }),
      };
    },
    setPolicy,
    logOn,
    passwordState: (user) =>
      asAdmin(async (client) => {
        const { searchEntries } = await client.search(user.dn, {
          scope: 'base',
          attributes: ['pwdLastSet', 'lockoutTime', 'badPwdCount'],
        });
        const entry = searchEntries[0]!;
        const text = (name: string) => String(entry[name] ?? '');
        return {
          pwdLastSet: text('pwdLastSet'),
          lockoutTime: text('lockoutTime'),
          badPwdCount: text('badPwdCount'),
        };
      }),
    stopServer,
    startServer,
    async stop() {
      await stopServer();
      unhook();
      releaseLock();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
