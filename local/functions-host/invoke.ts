/**
 * One invocation, in the order the Node.js worker runs it: the programming model builds the arguments,
 * preInvocation hooks, the handler, postInvocation hooks, then the model converts the result to an RPC
 * response. Each invocation ends with one host line:
 *   Executed 'Functions.<name>' (Succeeded|Failed, Id=<invocationId>, Duration=<n>ms)
 *
 * host.json `functionTimeout` bounds the whole of it. Past it the real host fails the invocation
 * ("Timeout value of … exceeded") and restarts the worker process that ran it. Here the functions run
 * in the host's own process, which cannot be restarted under the listeners, and JavaScript cannot
 * cancel a promise: the host stops waiting, fails the invocation (the trigger answers or settles as for
 * any failure), and says that the function goes on unawaited; what it does afterwards is ignored.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { RegisteredFunction, WorkerApp } from './core-api.js';
import type {
  CoreInvocationContext,
  InvocationState,
  PostInvocationContext,
  PreInvocationContext,
  RpcInvocationRequest,
  RpcInvocationResponse,
  RpcLogCategory,
  RpcLogLevel,
} from './core-types.js';
import { formatTimeSpan } from './config.js';
import type { HostLogger } from './log.js';

export interface InvocationResult {
  invocationId: string;
  succeeded: boolean;
  /** It ran past functionTimeout and was abandoned (it also counts as failed). */
  timedOut: boolean;
  response: RpcInvocationResponse | undefined;
  error: unknown;
  durationMs: number;
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}

/** Number of invocations running now; the host waits for them when it stops. */
let running = 0;
const idleWaiters: (() => void)[] = [];

export function runningInvocations(): number {
  return running;
}

/** Resolves when no invocation runs, or after `timeoutMs`. Returns whether it got idle. */
export function waitForIdle(timeoutMs: number): Promise<boolean> {
  if (running === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    idleWaiters.push(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

type Outcome =
  | { kind: 'succeeded'; response: RpcInvocationResponse }
  | { kind: 'failed'; error: unknown }
  | { kind: 'timedOut' };

/**
 * Runs one invocation; with `timeoutMs` (host.json functionTimeout), stops waiting for it after that
 * long. An abandoned invocation no longer counts as running: stopping the host does not wait for it.
 */
export async function invokeFunction(
  app: WorkerApp,
  fn: RegisteredFunction,
  request: Omit<RpcInvocationRequest, 'invocationId'>,
  logger: HostLogger,
  timeoutMs: number | undefined,
): Promise<InvocationResult> {
  const invocationId = randomUUID();
  const name = fn.metadata.name;
  const started = performance.now();
  running++;
  const work: Promise<Outcome> = run(
    app,
    fn,
    { ...request, invocationId, functionId: fn.metadata.functionId ?? name },
    logger,
  ).then(
    (response) => ({ kind: 'succeeded', response }),
    (error: unknown) => ({ kind: 'failed', error }),
  );
  let timer: NodeJS.Timeout | undefined;
  const deadline =
    timeoutMs === undefined
      ? undefined
      : new Promise<Outcome>((resolve) => {
          // setTimeout takes at most 2^31-1 ms (24.8 days); a longer timeout is as good as none.
          timer = setTimeout(() => resolve({ kind: 'timedOut' }), Math.min(timeoutMs, 2_147_483_647));
        });
  const outcome = deadline ? await Promise.race([work, deadline]) : await work;
  clearTimeout(timer);
  running--;
  if (running === 0) for (const w of idleWaiters.splice(0)) w();

  const durationMs = Math.round(performance.now() - started);
  const succeeded = outcome.kind === 'succeeded';
  if (outcome.kind === 'timedOut') {
    const limit = formatTimeSpan(timeoutMs ?? 0);
    logger.system(
      'error',
      `Timeout value of ${limit} exceeded by function 'Functions.${name}' (Id: '${invocationId}'). The invocation is abandoned.`,
    );
    void work.then((late) =>
      logger.system(
        'warning',
        `Invocation ${invocationId} of 'Functions.${name}', abandoned at its timeout, ended after ` +
          `${Math.round(performance.now() - started)}ms (${late.kind === 'succeeded' ? 'Succeeded' : 'Failed'}); its result is ignored.`,
      ),
    );
  }
  logger.info(
    `Executed 'Functions.${name}' (${succeeded ? 'Succeeded' : 'Failed'}, Id=${invocationId}, Duration=${durationMs}ms)`,
  );
  if (outcome.kind === 'failed') {
    logger.system(
      'error',
      `Exception while executing function: Functions.${name}. ${describeError(outcome.error)}`,
    );
  } else if (outcome.kind === 'timedOut') {
    logger.system(
      'warning',
      `A function timeout has occurred. Azure would restart the worker process; this host runs functions ` +
        `in its own process, so invocation ${invocationId} goes on unawaited until it ends by itself.`,
    );
  }
  return {
    invocationId,
    succeeded,
    timedOut: outcome.kind === 'timedOut',
    response: outcome.kind === 'succeeded' ? outcome.response : undefined,
    error: outcome.kind === 'failed' ? outcome.error : undefined,
    durationMs,
  };
}

async function run(
  app: WorkerApp,
  fn: RegisteredFunction,
  request: RpcInvocationRequest & { invocationId: string },
  logger: HostLogger,
): Promise<RpcInvocationResponse> {
  const model = app.programmingModel;
  if (!model) throw new Error('No programming model was set; did the app import @azure/functions?');

  // The log hooks see the invocation's context once the model has built it.
  const logContext: { invocationContext?: unknown } = {};
  const coreCtx: CoreInvocationContext = {
    invocationId: request.invocationId,
    request,
    metadata: fn.metadata,
    state: undefined as InvocationState | undefined,
    log(level: RpcLogLevel, category: RpcLogCategory, message: string) {
      const hookContext = {
        level,
        message,
        category,
        invocationContext: logContext.invocationContext,
        hookData: {},
        appHookData: app.appHookData,
      };
      app.runLogHooks(hookContext);
      if (category === 'user') logger.user(fn.metadata.name, hookContext.level, hookContext.message);
      else logger.system(hookContext.level, hookContext.message);
    },
  };

  const invocationModel = model.getInvocationModel(coreCtx);
  const hookData = {};
  const { context, inputs } = await invocationModel.getArguments();
  logContext.invocationContext = context;

  const pre: PreInvocationContext = {
    hookData,
    appHookData: app.appHookData,
    invocationContext: context,
    inputs,
    functionCallback: fn.callback,
  };
  coreCtx.state = 'preInvocationHooks';
  try {
    await app.executeHooks('preInvocation', pre);
  } finally {
    coreCtx.state = undefined;
  }

  const post: PostInvocationContext = {
    hookData,
    appHookData: app.appHookData,
    invocationContext: context,
    inputs: pre.inputs,
    result: null,
    error: null,
  };
  coreCtx.state = 'invocation';
  try {
    post.result = await invocationModel.invokeFunction(context, pre.inputs, pre.functionCallback);
  } catch (err) {
    post.error = err;
  } finally {
    coreCtx.state = undefined;
  }

  coreCtx.state = 'postInvocationHooks';
  try {
    await app.executeHooks('postInvocation', post);
  } finally {
    coreCtx.state = undefined;
  }
  if (post.error !== null && post.error !== undefined) throw post.error;
  return invocationModel.getResponse(context, post.result);
}
