/**
 * Test-only: one in-memory directory that several agents share, the way a tenant's agents share
 * Active Directory, even when one of them runs in another process (the agent process a test kills
 * with SIGKILL). The test process serves the directory over HTTP on loopback
 * (`startSharedDirectory`); an agent reaches it with `RemoteDirectory`, a DirectoryDriver over HTTP.
 *
 * What a test needs besides: how many times each password was set (a reset or change applied twice
 * shows as 2), and a hold on the next write, to stop an agent mid-apply deterministically — before
 * the directory applies it ("before": an agent that dies then has applied nothing) or after it
 * applied it and before it answers ("after": the agent dies having applied it, not knowing). A held
 * write whose caller goes away (its connection closes) is dropped, as a DC drops a request whose
 * client died. Put a fault proxy in front of the server for an outage of the directory.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  InMemoryDirectory,
  TOO_LATE,
  type DirectoryDriver,
  type DirectoryPolicy,
  type OperationResult,
  type ResetFlags,
  type SeedUser,
  type UserIdentifier,
  type WriteOptions,
} from '../../agent/directory/index.js';
import { ProblemError } from '../../shared/errors/index.js';

type Call =
  | {
      method: 'resetPassword';
      user: UserIdentifier;
      newPassword: string;
      flags?: ResetFlags;
      deadline?: number;
    }
  | {
      method: 'changePassword';
      user: UserIdentifier;
      currentPassword: string;
      newPassword: string;
      deadline?: number;
    }
  | { method: 'unlock'; user: UserIdentifier; deadline?: number }
  | { method: 'readPolicy' }
  | { method: 'passwordStamp'; user: UserIdentifier };

export interface Hold {
  /** Resolves when a write reached the hold, with the new password it sets. */
  readonly reached: Promise<string>;
  /** Lets the held write go on (applied, if "before" and its deadline allows; answered). */
  release(): void;
}

export interface SharedDirectory {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  readonly directory: InMemoryDirectory;
  /** How many times `password` was set by a reset or a change. */
  timesSet(password: string): number;
  /** Holds the next reset or change `before` or `after` the directory applies it. */
  holdNextWrite(phase: 'before' | 'after'): Hold;
  close(): Promise<void>;
}

async function bodyOf(request: IncomingMessage): Promise<Call> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Call;
}

export async function startSharedDirectory(options: {
  users: SeedUser[];
  policy?: Partial<DirectoryPolicy>;
}): Promise<SharedDirectory> {
  const directory = new InMemoryDirectory({ users: options.users, policy: options.policy ?? {} });
  const sets = new Map<string, number>();
  let armed:
    { phase: 'before' | 'after'; reached: (password: string) => void; released: Promise<void> } | undefined;

  const apply = async (call: Call): Promise<OperationResult | DirectoryPolicy | string | undefined> => {
    const write: WriteOptions =
      'deadline' in call && call.deadline !== undefined ? { deadline: call.deadline } : {};
    switch (call.method) {
      case 'resetPassword': {
        const result = await directory.resetPassword(call.user, call.newPassword, call.flags, write);
        if (result.outcome === 'succeeded') sets.set(call.newPassword, (sets.get(call.newPassword) ?? 0) + 1);
        return result;
      }
      case 'changePassword': {
        const result = await directory.changePassword(
          call.user,
          call.currentPassword,
          call.newPassword,
          write,
        );
        if (result.outcome === 'succeeded') sets.set(call.newPassword, (sets.get(call.newPassword) ?? 0) + 1);
        return result;
      }
      case 'unlock':
        return directory.unlock(call.user, write);
      case 'readPolicy':
        return directory.readPolicy();
      case 'passwordStamp':
        return directory.passwordStamp(call.user);
    }
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const call = await bodyOf(request);
    let gone = false;
    response.on('close', () => (gone = !response.writableFinished));
    const hold = call.method === 'resetPassword' || call.method === 'changePassword' ? armed : undefined;
    if (hold) armed = undefined;
    const callerGone = new Promise<void>((resolve) => response.once('close', () => resolve()));
    let result: Awaited<ReturnType<typeof apply>>;
    const password = 'newPassword' in call ? call.newPassword : '';
    if (hold?.phase === 'before') {
      hold.reached(password);
      await Promise.race([hold.released, callerGone]);
      if (gone) return; // the agent died mid-apply: nothing was written
      result =
        'deadline' in call && call.deadline !== undefined && Date.now() >= call.deadline
          ? TOO_LATE
          : await apply(call);
    } else {
      result = await apply(call);
      if (hold) {
        hold.reached(password);
        await Promise.race([hold.released, callerGone]);
        if (gone) return; // applied, and the agent died before it heard so
      }
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ result: result ?? null }));
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent) return;
      const problem =
        error instanceof ProblemError ? { code: error.code, detail: error.detail } : { code: 'Error' };
      response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: problem }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    directory,
    timesSet: (password) => sets.get(password) ?? 0,
    holdNextWrite(phase) {
      let reached!: (password: string) => void;
      let release!: () => void;
      const hold = {
        reached: new Promise<string>((resolve) => (reached = resolve)),
        released: new Promise<void>((resolve) => (release = resolve)),
      };
      armed = { phase, reached, released: hold.released };
      return { reached: hold.reached, release };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * A DirectoryDriver over HTTP to a shared directory. Like the LDAP driver, it answers an
 * unreachable directory with AgentFailure (operations) or a ProblemError (reads), every call has a
 * deadline, and a write whose connection fails has an unknown outcome.
 */
export class RemoteDirectory implements DirectoryDriver {
  constructor(
    private readonly url: string,
    private readonly timeoutMs = 10_000,
  ) {}

  private async call<T>(call: Call): Promise<T> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(call),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const body = (await response.json()) as { result?: T; error?: { code: string; detail?: string } };
    if (!response.ok) throw new ProblemError('AgentFailure', body.error?.detail ?? 'the directory failed');
    return (body.result ?? undefined) as T;
  }

  private async write(call: Call): Promise<OperationResult> {
    try {
      return await this.call<OperationResult>(call);
    } catch {
      return { outcome: 'AgentFailure', detail: 'outcome unknown: the directory did not answer' };
    }
  }

  private async read<T>(call: Call): Promise<T> {
    try {
      return await this.call<T>(call);
    } catch (error) {
      if (error instanceof ProblemError) throw error;
      throw new ProblemError('AgentFailure', 'the directory cannot be reached');
    }
  }

  resetPassword(user: UserIdentifier, newPassword: string, flags?: ResetFlags, options: WriteOptions = {}) {
    return this.write({
      method: 'resetPassword',
      user,
      newPassword,
      ...(flags ? { flags } : {}),
      ...options,
    });
  }

  changePassword(
    user: UserIdentifier,
    currentPassword: string,
    newPassword: string,
    options: WriteOptions = {},
  ) {
    return this.write({ method: 'changePassword', user, currentPassword, newPassword, ...options });
  }

  unlock(user: UserIdentifier, options: WriteOptions = {}) {
    return this.write({ method: 'unlock', user, ...options });
  }

  readPolicy(): Promise<DirectoryPolicy> {
    return this.read({ method: 'readPolicy' });
  }

  passwordStamp(user: UserIdentifier): Promise<string | undefined> {
    return this.read({ method: 'passwordStamp', user });
  }

  async close(): Promise<void> {}
}
