/**
 * The Active Directory driver: password operations over LDAPS (or LDAP with StartTLS) with ldapts,
 * bound as the agent's service account, through a small pool of connections.
 *
 * - Lookup by objectSid (binary) or userPrincipalName under the base DN; person accounts only.
 * - Reset: one modify that replaces unicodePwd and sets pwdLastSet (0 to force a change at next logon,
 *   -1 for "now", so the result does not depend on whether the service account holds the domain's
 *   Unexpire-Password right) and, on request, lockoutTime 0 — one modify, so it applies entirely or
 *   not at all.
 * - Change: one modify that deletes the current unicodePwd value and adds the new one. AD treats that
 *   as the user's change whoever is bound (MS-ADTS 3.1.1.3.1.5.1): it checks the current password,
 *   counts a wrong one towards lockout, and applies history and minimum age (observed on Samba 4.17
 *   while bound as the service account). It is done as the service account, not bound as the user,
 *   because a user who must change at next logon, or whose password has expired, cannot bind (data
 *   773 / 532) — exactly the users who need a change.
 * - Unlock: lockoutTime 0.
 * - Refused before any write: adminCount=1 (ProtectedAccount), ACCOUNTDISABLE (AccountDisabled).
 * - Failures are mapped by LDAP result code and the leading Win32 code (ad-answers.ts); a policy
 *   refusal's reason is told from the domain's policy and the password itself (password-rules.ts).
 * - Only connecting and reading are retried. A write whose connection fails is reported as an
 *   AgentFailure with its outcome unknown, never sent twice. A write is not begun when its request
 *   timeout would reach past the caller's deadline (an AgentFailure, not applied).
 * - The password stamp is the version of `unicodePwd` in the account's replication metadata
 *   (unicode-pwd-version.ts): it rises with every password set, whatever pwdLastSet says.
 */
import { Attribute, Change, Client, type Entry, type Filter } from 'ldapts';
import { ConfigurationError, ProblemError } from '../../shared/errors/index.js';
import type { DirectoryPolicy } from '../../shared/domain/index.js';
import {
  LdapResult,
  describeAnswer,
  interpretAnswer,
  readDirectoryAnswer,
  type Interpretation,
  type Phase,
} from './ad-answers.js';
import { adIntervalToSeconds, fileTimeToDate, generalizedTimeToDate } from './ad-time.js';
import { ConnectionPool, PoolClosedError, PoolTimeoutError } from './connection-pool.js';
import {
  DirectoryClosedError,
  TOO_LATE,
  silentLogger,
  type DirectoryDriver,
  type DirectoryLogger,
  logRefusal,
  type OperationResult,
  type ResetFlags,
  type UserIdentifier,
  type WriteOptions,
} from './driver.js';
import { userFilter } from './ldap-filters.js';
import { reasonForRefusal, type AccountNames } from './password-rules.js';
import { InvalidSidError } from './sid.js';
import { unicodePwdVersion } from './unicode-pwd-version.js';

export interface LdapDirectoryOptions {
  /** `ldaps://dc.example.com:636`, or `ldap://…:389` together with `startTls: true`. */
  url: string;
  startTls?: boolean;
  /** PEM of the CA that issued the DC's certificate. Certificates are always verified. */
  caCertificate: string | Buffer;
  /** The name to verify the DC's certificate against, when it differs from the URL's host. */
  tlsServerName?: string;
  /** Where user accounts are looked up (subtree). */
  baseDn: string;
  /** The service account: a DN or a UPN. */
  bindDn: string;
  bindPassword: string;
  /** Connections kept open. Default 4. */
  poolSize?: number;
  /** TCP + TLS connect timeout. Default 5 s. */
  connectTimeoutMs?: number;
  /** Timeout of each LDAP request. Default 10 s. */
  requestTimeoutMs?: number;
  /** How long one operation may wait for a connection, including reconnect attempts. Default 15 s. */
  operationDeadlineMs?: number;
  /** Backoff between reconnect attempts: first delay and cap. Defaults 250 ms and 5 s. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: DirectoryLogger;
}

const ACCOUNTDISABLE = 0x2;
const USER_ATTRIBUTES = ['sAMAccountName', 'displayName', 'userAccountControl', 'adminCount', 'pwdLastSet'];
const POLICY_ATTRIBUTES = [
  'minPwdLength',
  'pwdProperties',
  'pwdHistoryLength',
  'minPwdAge',
  'lockoutThreshold',
];
/** pwdProperties bit DOMAIN_PASSWORD_COMPLEX. */
const DOMAIN_PASSWORD_COMPLEX = 0x1;

interface Account extends AccountNames {
  dn: string;
  protected: boolean;
  disabled: boolean;
  /** undefined when the password must be changed at next logon (pwdLastSet 0). */
  passwordLastSet?: Date;
}

interface ServerFacts {
  domain: string;
  samba: boolean;
}

/** Carries an interpretation out of pool work, so that the pool closes a bad connection. */
class OperationFailure extends Error {
  constructor(readonly interpretation: Interpretation) {
    super(interpretation.detail);
    this.name = 'OperationFailure';
  }
}

/** unicodePwd's value: the password in double quotes, UTF-16LE (MS-ADTS 3.1.1.3.1.5.1). */
function unicodePwd(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le');
}

function replace(type: string, value: string | Buffer): Change {
  return new Change({
    operation: 'replace',
    modification: new Attribute({ type, values: [value] as string[] | Buffer[] }),
  });
}

function single(entry: Entry, attribute: string): string | undefined {
  const value = entry[attribute];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return Buffer.isBuffer(first) ? first.toString('utf8') : first;
}

function integer(entry: Entry, attribute: string): number {
  const text = single(entry, attribute);
  const value = text === undefined ? NaN : Number(text);
  if (!Number.isFinite(value))
    throw new ProblemError('AgentFailure', `the domain object has no readable ${attribute}`);
  return value;
}

function validate(options: LdapDirectoryOptions): void {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new ConfigurationError('directory url', 'an ldaps:// or ldap:// URL');
  }
  if (url.protocol === 'ldap:' && !options.startTls) {
    throw new ConfigurationError(
      'directory url',
      'ldaps://, or ldap:// with StartTLS: passwords never travel in clear',
    );
  }
  if (url.protocol === 'ldaps:' && options.startTls) {
    throw new ConfigurationError('directory startTls', 'StartTLS only with an ldap:// URL');
  }
  if (url.protocol !== 'ldap:' && url.protocol !== 'ldaps:') {
    throw new ConfigurationError('directory url', 'an ldaps:// or ldap:// URL');
  }
  if (!String(options.caCertificate).includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigurationError('directory CA certificate', 'a PEM certificate');
  }
  for (const [name, value] of [
    ['directory base DN', options.baseDn],
    ['directory bind account', options.bindDn],
    ['directory bind password', options.bindPassword],
  ] as const) {
    if (!value) throw new ConfigurationError(name, 'a non-empty value');
  }
  // ldapts's debug log (NODE_DEBUG=ldapts) prints every request, passwords included.
  if (/\bldapts\b/i.test(process.env['NODE_DEBUG'] ?? '')) {
    throw new ConfigurationError('NODE_DEBUG', 'not to enable ldapts, whose debug log prints passwords');
  }
}

export class LdapDirectory implements DirectoryDriver {
  private readonly pool: ConnectionPool<Client>;
  private readonly log: DirectoryLogger;
  private readonly deadlineMs: number;
  private readonly requestTimeoutMs: number;
  private serverFacts?: ServerFacts;
  private closed = false;

  constructor(private readonly options: LdapDirectoryOptions) {
    validate(options);
    this.log = options.logger ?? silentLogger;
    this.deadlineMs = options.operationDeadlineMs ?? 15_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.pool = new ConnectionPool<Client>({
      size: options.poolSize ?? 4,
      open: () => this.connect(),
      // A pooled client is bound as the service account once, at connect; it stays usable while connected.
      isUsable: (client) => client.isConnected,
      dispose: async (client) => {
        await client.unbind().catch(() => undefined);
      },
      // Refused credentials do not get better by retrying (and retries could lock the account out).
      isRetryable: (error) => {
        const answer = readDirectoryAnswer(error);
        return answer.kind === 'transport'
          ? interpretAnswer(answer, 'connect').retryable
          : answer.resultCode !== LdapResult.INVALID_CREDENTIALS;
      },
      initialBackoffMs: options.initialBackoffMs ?? 250,
      maxBackoffMs: options.maxBackoffMs ?? 5_000,
      onOpenFailure: (error, attempt, retryInMs) =>
        this.log.warn('directory connection failed', {
          attempt,
          retryInMs,
          cause: describeAnswer(readDirectoryAnswer(error)),
        }),
      onOpened: (afterFailures) => this.log.info('directory connection restored', { afterFailures }),
    });
  }

  async resetPassword(
    user: UserIdentifier,
    newPassword: string,
    flags: ResetFlags = {},
    options: WriteOptions = {},
  ): Promise<OperationResult> {
    return this.operate('reset', user, options, async (client, account) => {
      const changes = [
        replace('unicodePwd', unicodePwd(newPassword)),
        replace('pwdLastSet', flags.forceChangeAtNextLogon ? '0' : '-1'),
        ...(flags.unlock ? [replace('lockoutTime', '0')] : []),
      ];
      return this.update(client, account.dn, changes, { kind: 'reset', newPassword, account });
    });
  }

  async changePassword(
    user: UserIdentifier,
    currentPassword: string,
    newPassword: string,
    options: WriteOptions = {},
  ): Promise<OperationResult> {
    return this.operate('change', user, options, async (client, account) => {
      const changes = [
        new Change({
          operation: 'delete',
          modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(currentPassword)] }),
        }),
        new Change({
          operation: 'add',
          modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(newPassword)] }),
        }),
      ];
      return this.update(client, account.dn, changes, { kind: 'change', newPassword, account });
    });
  }

  async unlock(user: UserIdentifier, options: WriteOptions = {}): Promise<OperationResult> {
    return this.operate('unlock', user, options, (client, account) =>
      this.update(client, account.dn, [replace('lockoutTime', '0')]),
    );
  }

  async readPolicy(): Promise<DirectoryPolicy> {
    this.assertOpen();
    try {
      return await this.withConnection((client) => this.policyOf(client));
    } catch (error) {
      const interpretation = this.interpretFailure(error, 'lookup');
      throw new ProblemError('AgentFailure', `reading the password policy failed: ${interpretation.detail}`);
    }
  }

  async passwordStamp(user: UserIdentifier): Promise<string | undefined> {
    this.assertOpen();
    let filter: Filter;
    try {
      filter = userFilter(user);
    } catch (error) {
      if (!(error instanceof InvalidSidError)) throw error;
      return undefined;
    }
    try {
      return await this.withConnection(async (client) => {
        const { searchEntries: entries } = await client.search(this.options.baseDn, {
          scope: 'sub',
          filter,
          attributes: ['replPropertyMetaData'],
          explicitBufferAttributes: ['replPropertyMetaData'],
          sizeLimit: 2,
        });
        // More than one match: the operation itself answers that, and writes nothing.
        if (entries.length !== 1) return undefined;
        const value = entries[0]!['replPropertyMetaData'];
        const blob = Array.isArray(value) ? value[0] : value;
        const version = Buffer.isBuffer(blob) ? unicodePwdVersion(blob) : undefined;
        if (version === undefined) {
          throw new ProblemError(
            'AgentFailure',
            "the account's replPropertyMetaData cannot be read (the service account needs read access)",
          );
        }
        return String(version);
      });
    } catch (error) {
      if (error instanceof PoolClosedError) throw new DirectoryClosedError();
      if (error instanceof RangeError) throw new ProblemError('AgentFailure', error.message);
      const interpretation = this.interpretFailure(error, 'lookup');
      throw new ProblemError('AgentFailure', `reading the password stamp failed: ${interpretation.detail}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new DirectoryClosedError();
  }

  /** Opens one connection: TLS (direct or StartTLS), then a simple bind as the service account. */
  private async connect(): Promise<Client> {
    const tlsOptions = {
      ca: this.options.caCertificate,
      ...(this.options.tlsServerName ? { servername: this.options.tlsServerName } : {}),
      minVersion: 'TLSv1.2' as const,
    };
    const client = new Client({
      url: this.options.url,
      connectTimeout: this.options.connectTimeoutMs ?? 5_000,
      timeout: this.requestTimeoutMs,
      ...(this.options.startTls ? {} : { tlsOptions }),
    });
    try {
      if (this.options.startTls) await client.startTLS(tlsOptions);
      await client.bind(this.options.bindDn, this.options.bindPassword);
      return client;
    } catch (error) {
      await client.unbind().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Runs work on a pooled connection. When the connection turns out to be broken before anything was
   * written (`progress.writing` still false), the work is tried once more on a fresh connection; once
   * a write is under way, never.
   */
  private async withConnection<T>(
    work: (client: Client, progress: { writing: boolean }) => Promise<T>,
    callerDeadline = Infinity,
  ): Promise<T> {
    const deadline = Math.min(Date.now() + this.deadlineMs, callerDeadline);
    for (let attempt = 1; ; attempt++) {
      const progress = { writing: false };
      try {
        return await this.pool.use(deadline, async (client) => ({
          value: await work(client, progress),
          reusable: true,
        }));
      } catch (error) {
        const retry =
          attempt === 1 &&
          !progress.writing &&
          !(error instanceof PoolTimeoutError) &&
          this.interpretFailure(error, 'lookup').retryable &&
          Date.now() < deadline;
        if (!retry) throw error;
        this.log.warn('directory connection lost; trying again on a fresh one', {
          cause: describeAnswer(readDirectoryAnswer(error)),
        });
      }
    }
  }

  /** The common shape of the three operations: find the account, refuse what must be refused, write. */
  private async operate(
    operation: 'reset' | 'change' | 'unlock',
    user: UserIdentifier,
    options: WriteOptions,
    write: (client: Client, account: Account) => Promise<OperationResult>,
  ): Promise<OperationResult> {
    this.assertOpen();
    let filter: Filter;
    try {
      filter = userFilter(user);
    } catch (error) {
      if (!(error instanceof InvalidSidError)) throw error;
      return { outcome: 'UserNotFound', detail: 'the identifier is not a valid SID' };
    }
    let result: OperationResult;
    try {
      result = await this.withConnection(async (client, progress) => {
        const account = await this.findAccount(client, filter);
        if (!account) return { outcome: 'UserNotFound', detail: 'no account matches the identifier' };
        if (account.protected) {
          return {
            outcome: 'ProtectedAccount',
            detail: 'the account is in a protected group (adminCount=1)',
          };
        }
        if (account.disabled) return { outcome: 'AccountDisabled', detail: 'the account is disabled' };
        // The modify's own timeout must end before the caller's deadline.
        if (options.deadline !== undefined && Date.now() + this.requestTimeoutMs > options.deadline) {
          return TOO_LATE;
        }
        progress.writing = true;
        return write(client, account);
      }, options.deadline);
    } catch (error) {
      if (error instanceof PoolClosedError) throw new DirectoryClosedError();
      const interpretation = this.interpretFailure(error, 'lookup');
      result = { outcome: interpretation.outcome, detail: interpretation.detail };
      if (interpretation.reason && interpretation.reason !== 'deduce') {
        result.reason = interpretation.reason;
      }
    }
    return logRefusal(this.log, operation, result);
  }

  /** Looks the account up (person accounts under the base DN). */
  private async findAccount(client: Client, filter: Filter): Promise<Account | undefined> {
    const { searchEntries: entries } = await client.search(this.options.baseDn, {
      scope: 'sub',
      filter,
      attributes: USER_ATTRIBUTES,
      sizeLimit: 2,
    });
    if (entries.length > 1) {
      throw new OperationFailure({
        outcome: 'AgentFailure',
        detail: 'more than one account matches the identifier',
        connectionReusable: true,
        retryable: false,
      });
    }
    const entry = entries[0];
    if (!entry) return undefined;
    const displayName = single(entry, 'displayName');
    const pwdLastSet = single(entry, 'pwdLastSet');
    const passwordLastSet = pwdLastSet === undefined ? undefined : fileTimeToDate(pwdLastSet);
    return {
      dn: entry.dn,
      samAccountName: single(entry, 'sAMAccountName') ?? '',
      ...(displayName ? { displayName } : {}),
      protected: single(entry, 'adminCount') === '1',
      disabled: (Number(single(entry, 'userAccountControl') ?? 0) & ACCOUNTDISABLE) !== 0,
      ...(passwordLastSet ? { passwordLastSet } : {}),
    };
  }

  /** Sends one modify; on refusal, maps the answer (and tells a policy refusal's reason). */
  private async update(
    client: Client,
    dn: string,
    changes: Change[],
    attempt?: { kind: 'reset' | 'change'; newPassword: string; account: Account },
  ): Promise<OperationResult> {
    try {
      await client.modify(dn, changes);
      return { outcome: 'succeeded' };
    } catch (error) {
      const interpretation = interpretAnswer(readDirectoryAnswer(error), 'update');
      if (!interpretation.connectionReusable) throw new OperationFailure(interpretation);
      const result: OperationResult = { outcome: interpretation.outcome, detail: interpretation.detail };
      if (interpretation.reason === 'deduce') {
        result.reason = attempt ? await this.deduceReason(client, attempt) : 'other';
      } else if (interpretation.reason) {
        result.reason = interpretation.reason;
      }
      return result;
    }
  }

  /** Which rule a 0000052D refusal stands for, from the domain's policy and the DC's clock. */
  private async deduceReason(
    client: Client,
    attempt: { kind: 'reset' | 'change'; newPassword: string; account: Account },
  ): Promise<NonNullable<OperationResult['reason']>> {
    try {
      const [policy, dcNow, server] = await Promise.all([
        this.policyOf(client),
        this.directoryTime(client),
        this.server(client),
      ]);
      const { passwordLastSet } = attempt.account;
      return reasonForRefusal({
        accountNameRule: !server.samba,
        kind: attempt.kind,
        policy,
        newPassword: attempt.newPassword,
        account: attempt.account,
        ...(passwordLastSet
          ? {
              passwordAgeSeconds: Math.floor(
                ((dcNow ?? new Date()).getTime() - passwordLastSet.getTime()) / 1000,
              ),
            }
          : {}),
      });
    } catch {
      return 'other';
    }
  }

  /**
   * What the rootDSE says about the DC, read once: the domain's naming context, and whether it is
   * Samba (its rootDSE names the vendor; Windows AD's does not), which leaves out complexity's
   * account-name rule — so a refusal of a password that contains the account name is not blamed on it.
   */
  private async server(client: Client): Promise<ServerFacts> {
    if (this.serverFacts) return this.serverFacts;
    const { searchEntries } = await client.search('', {
      scope: 'base',
      attributes: ['defaultNamingContext', 'vendorName'],
    });
    const entry = searchEntries[0];
    const domain = entry && single(entry, 'defaultNamingContext');
    if (!entry || !domain) throw new ProblemError('AgentFailure', 'the directory did not name its domain');
    this.serverFacts = { domain, samba: /^Samba\b/i.test(single(entry, 'vendorName') ?? '') };
    return this.serverFacts;
  }

  /** The DC's own clock (rootDSE currentTime), so that minimum age is judged without clock skew. */
  private async directoryTime(client: Client): Promise<Date | undefined> {
    const { searchEntries } = await client.search('', { scope: 'base', attributes: ['currentTime'] });
    const value = searchEntries[0] && single(searchEntries[0], 'currentTime');
    return value === undefined ? undefined : generalizedTimeToDate(value);
  }

  private async policyOf(client: Client): Promise<DirectoryPolicy> {
    const { domain } = await this.server(client);
    const { searchEntries } = await client.search(domain, { scope: 'base', attributes: POLICY_ATTRIBUTES });
    const entry = searchEntries[0];
    if (!entry) throw new ProblemError('AgentFailure', 'the domain object could not be read');
    return {
      minLength: integer(entry, 'minPwdLength'),
      complexity: (integer(entry, 'pwdProperties') & DOMAIN_PASSWORD_COMPLEX) !== 0,
      historyLength: integer(entry, 'pwdHistoryLength'),
      minimumAgeSeconds: adIntervalToSeconds(single(entry, 'minPwdAge') ?? '0'),
      lockoutThreshold: integer(entry, 'lockoutThreshold'),
    };
  }

  private interpretFailure(error: unknown, phase: Phase): Interpretation {
    if (error instanceof OperationFailure) return error.interpretation;
    if (error instanceof ProblemError) {
      return { outcome: 'AgentFailure', detail: error.detail, connectionReusable: true, retryable: false };
    }
    if (error instanceof PoolTimeoutError) {
      const cause = error.cause === undefined ? undefined : readDirectoryAnswer(error.cause);
      return {
        outcome: 'AgentFailure',
        detail: cause
          ? interpretAnswer(cause, 'connect').detail
          : 'no directory connection became free in time',
        connectionReusable: false,
        retryable: false,
      };
    }
    const answer = readDirectoryAnswer(error);
    if (answer.kind === 'result' && answer.resultCode === LdapResult.INVALID_CREDENTIALS) {
      return interpretAnswer(answer, 'connect');
    }
    return interpretAnswer(answer, phase);
  }
}
