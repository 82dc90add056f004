/**
 * Our own declarations of the `@azure/functions-core` API: the module the Azure Functions Node.js worker
 * provides at run time and that `@azure/functions` (the v4 programming model) talks to. Only the part the
 * local host implements is declared. Shapes follow the worker's public `types-core` declarations and the
 * RPC messages of the language worker protocol, as the library reads and writes them.
 */

export type RpcLogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';
export type RpcLogCategory = 'user' | 'system' | 'customMetric';

export interface RpcNullableString {
  value?: string | null;
}

export interface RpcNullableBool {
  value?: boolean | null;
}

export interface RpcNullableDouble {
  value?: number | null;
}

export interface RpcNullableTimestamp {
  value?: { seconds?: number | null; nanos?: number | null } | null;
}

export type RpcHttpCookieSameSite = 'none' | 'lax' | 'strict' | 'explicitNone';

export interface RpcHttpCookie {
  name?: string | null;
  value?: string | null;
  domain?: RpcNullableString | null;
  path?: RpcNullableString | null;
  expires?: RpcNullableTimestamp | null;
  secure?: RpcNullableBool | null;
  httpOnly?: RpcNullableBool | null;
  sameSite?: RpcHttpCookieSameSite | null;
  maxAge?: RpcNullableDouble | null;
}

export interface RpcHttpData {
  method?: string | null;
  url?: string | null;
  headers?: Record<string, string> | null;
  body?: RpcTypedData | null;
  params?: Record<string, string> | null;
  statusCode?: string | null;
  query?: Record<string, string> | null;
  enableContentNegotiation?: boolean | null;
  rawBody?: RpcTypedData | null;
  cookies?: RpcHttpCookie[] | null;
  nullableHeaders?: Record<string, RpcNullableString> | null;
  nullableParams?: Record<string, RpcNullableString> | null;
  nullableQuery?: Record<string, RpcNullableString> | null;
}

export interface RpcTypedData {
  string?: string | null;
  json?: string | null;
  bytes?: Uint8Array | null;
  stream?: Uint8Array | null;
  http?: RpcHttpData | null;
  int?: number | null;
  double?: number | null;
  collectionBytes?: { bytes?: Uint8Array[] | null } | null;
  collectionString?: { string?: string[] | null } | null;
  collectionDouble?: { double?: number[] | null } | null;
  collectionSint64?: { sint64?: number[] | null } | null;
}

export interface RpcParameterBinding {
  name?: string | null;
  data?: RpcTypedData | null;
}

export interface RpcInvocationRequest {
  invocationId?: string | null;
  functionId?: string | null;
  inputData?: RpcParameterBinding[] | null;
  triggerMetadata?: Record<string, RpcTypedData> | null;
  traceContext?: {
    traceParent?: string | null;
    traceState?: string | null;
    attributes?: Record<string, string>;
  };
  retryContext?: { retryCount?: number | null; maxRetryCount?: number | null } | null;
}

export interface RpcInvocationResponse {
  invocationId?: string | null;
  outputData?: RpcParameterBinding[] | null;
  returnValue?: RpcTypedData | null;
}

/** One binding as the library describes it: the trigger's options plus `type` and `direction`. */
export interface RpcBindingInfo {
  type?: string | null;
  direction?: 'in' | 'out' | 'inout' | null;
  dataType?: 'undefined' | 'string' | 'binary' | 'stream' | null;
  properties?: Record<string, string> | null;
  /** The trigger's own options (route, methods, authLevel, schedule, queueName, connection, ...). */
  [option: string]: unknown;
}

export interface FunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, RpcBindingInfo>;
  retryOptions?: unknown;
}

/** The user's handler; the programming model decides what it receives. */
export type FunctionCallback = (...args: unknown[]) => unknown;

export type InvocationState = 'preInvocationHooks' | 'postInvocationHooks' | 'invocation';

export interface CoreInvocationContext {
  invocationId: string;
  request: RpcInvocationRequest;
  metadata: FunctionMetadata;
  state?: InvocationState;
  log(level: RpcLogLevel, category: RpcLogCategory, message: string): void;
}

export interface InvocationArguments {
  context: unknown;
  inputs: unknown[];
}

export interface InvocationModel {
  getArguments(): Promise<InvocationArguments>;
  invokeFunction(context: unknown, inputs: unknown[], handler: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<RpcInvocationResponse>;
}

export type WorkerCapabilities = Record<string, string>;

export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreContext: CoreInvocationContext): InvocationModel;
  getCapabilities?(capabilities: WorkerCapabilities): WorkerCapabilities | Promise<WorkerCapabilities>;
}

export type HookData = Record<string, unknown>;

export interface HookContext {
  hookData: HookData;
  appHookData: HookData;
}

export interface AppStartContext extends HookContext {
  functionAppDirectory: string;
}

export interface PreInvocationContext extends HookContext {
  invocationContext: unknown;
  inputs: unknown[];
  functionCallback: FunctionCallback;
}

export interface PostInvocationContext extends HookContext {
  invocationContext: unknown;
  inputs: unknown[];
  result: unknown;
  error: unknown;
}

export interface LogHookContext extends HookContext {
  level: RpcLogLevel;
  message: string;
  category: RpcLogCategory;
  invocationContext?: unknown;
}

export type HookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation' | 'log';

export type HookCallback = (context: never) => void | Promise<void>;

export interface Disposable {
  dispose(): void;
}

export interface DisposableConstructor {
  new (callOnDispose: () => void): Disposable;
  from(...disposables: { dispose(): unknown }[]): Disposable;
}

/** The object `require('@azure/functions-core')` returns inside the local host. */
export interface CoreApi {
  readonly version: string;
  readonly hostVersion: string;
  registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable;
  registerHook(hookName: string, callback: HookCallback): Disposable;
  setProgrammingModel(programmingModel: ProgrammingModel): void;
  getProgrammingModel(): ProgrammingModel | undefined;
  log(level: RpcLogLevel, category: RpcLogCategory, message: string): void;
  Disposable: DisposableConstructor;
}
