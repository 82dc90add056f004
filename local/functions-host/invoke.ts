/**
 * One invocation, in the order the Node.js worker runs it: the programming model builds the arguments,
 * preInvocation hooks, the handler, postInvocation hooks, then the model converts the result to an RPC
 * response. Each invocation ends with one host line:
 *   Executed 'Functions.<name>' (Succeeded|Failed, Id=<invocationId>, Duration=<n>ms)
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
import type { HostLogger } from './log.js';

export interface InvocationResult {
  invocationId: string;
  succeeded: boolean;
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

export async function invokeFunction(
  app: WorkerApp,
  fn: RegisteredFunction,
  request: Omit<RpcInvocationRequest, 'invocationId'>,
  logger: HostLogger,
): Promise<InvocationResult> {
  const invocationId = randomUUID();
  const name = fn.metadata.name;
  const started = performance.now();
  running++;
  let response: RpcInvocationResponse | undefined;
  let error: unknown;
  let failed = false;
  try {
    response = await run(
      app,
      fn,
      { ...request, invocationId, functionId: fn.metadata.functionId ?? name },
      logger,
    );
  } catch (err) {
    failed = true;
    error = err;
  } finally {
    running--;
    if (running === 0) for (const w of idleWaiters.splice(0)) w();
  }
  const durationMs = Math.round(performance.now() - started);
  logger.info(
    `Executed 'Functions.${name}' (${failed ? 'Failed' : 'Succeeded'}, Id=${invocationId}, Duration=${durationMs}ms)`,
  );
  if (failed)
    logger.system('error', `Exception while executing function: Functions.${name}. ${describeError(error)}`);
  return { invocationId, succeeded: !failed, response, error, durationMs };
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
