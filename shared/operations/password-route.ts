/**
 * What every password route does once its contract has authenticated and parsed the call: submit the
 * operation for the caller (`self`) or, on an admin route, for the route's user, and map the outcome
 * to the HTTP answer. The function files only say which operation.
 */
import type { HttpResponseInit } from '@azure/functions';
import type { Logger } from '../domain/index.js';
import { onPremisesUserOf, type Caller } from '../auth/index.js';
import { submissionResponse } from './responses.js';
import { writebackOperations, type PasswordOperationRequest } from './writeback-operations.js';

export interface PasswordRouteInput {
  params: { tenantId: string; upn?: string };
  headers: { 'idempotency-key'?: string | undefined };
  traceparent: string | undefined;
  caller: Caller;
  context: Logger & { invocationId: string };
}

export async function runPasswordRoute(
  input: PasswordRouteInput,
  route: PasswordOperationRequest['route'],
  operation: PasswordOperationRequest['operation'],
): Promise<HttpResponseInit> {
  const { params, headers, traceparent, caller, context } = input;
  const key = headers['idempotency-key'];
  const submission = await writebackOperations().submit(
    {
      tenantId: params.tenantId,
      caller,
      route,
      user: route === 'admin' ? { kind: 'upn', value: params.upn ?? '' } : onPremisesUserOf(caller),
      operation,
      ...(key !== undefined ? { idempotencyKey: key } : {}),
      // The caller's W3C trace context travels with the request message and back with the reply.
      ...(traceparent ? { traceparent } : {}),
    },
    context,
  );
  return submissionResponse(submission, context.invocationId);
}
