/**
 * The password routes (docs/api.md): reset, change and unlock for the caller (`me/`), reset and
 * unlock of any user for an admin (`users/{upn}/`). Thin: the route contract authorizes, this file
 * runs the operation in shared/operations and maps its outcome there.
 */
import { app, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import {
  changeMyPasswordRoute,
  resetMyPasswordRoute,
  resetUserPasswordRoute,
  unlockMeRoute,
  unlockUserRoute,
} from '../shared/api/index.js';
import { onPremisesUserOf, type Caller } from '../shared/auth/index.js';
import { httpTrigger } from '../shared/http/index.js';
import {
  submissionResponse,
  writebackOperations,
  type PasswordOperationRequest,
} from '../shared/operations/index.js';

interface RouteInput {
  params: { tenantId: string; upn?: string };
  headers: { 'idempotency-key'?: string | undefined };
  traceparent: string | undefined;
  caller: Caller;
  context: InvocationContext;
}

/** Runs the operation for the caller (`self`) or, for an admin, for the route's user; maps the outcome. */
async function run(
  input: RouteInput,
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

app.http(
  resetMyPasswordRoute.name,
  httpTrigger(resetMyPasswordRoute, (input) =>
    run(input, 'self', { kind: 'reset', newPassword: input.body.newPassword }),
  ),
);

app.http(
  changeMyPasswordRoute.name,
  httpTrigger(changeMyPasswordRoute, (input) => run(input, 'self', { kind: 'change', ...input.body })),
);

app.http(
  unlockMeRoute.name,
  httpTrigger(unlockMeRoute, (input) => run(input, 'self', { kind: 'unlock' })),
);

app.http(
  resetUserPasswordRoute.name,
  httpTrigger(resetUserPasswordRoute, (input) => {
    const { newPassword, forceChangeAtNextLogon, unlock } = input.body ?? {};
    return run(input, 'admin', {
      kind: 'reset',
      ...(newPassword !== undefined ? { newPassword } : {}),
      flags: {
        ...(forceChangeAtNextLogon !== undefined ? { forceChangeAtNextLogon } : {}),
        ...(unlock !== undefined ? { unlock } : {}),
      },
    });
  }),
);

app.http(
  unlockUserRoute.name,
  httpTrigger(unlockUserRoute, (input) => run(input, 'admin', { kind: 'unlock' })),
);
