/**
 * The password routes (DESIGN.md §4): reset, change and unlock for the caller (`me/`), reset and
 * unlock of any user for an admin (`users/{upn}/`). Thin: parse and authorize here, run the
 * operation in shared/operations, map its outcome there.
 */
import { app, type HttpRequest } from '@azure/functions';
import {
  changeMyPasswordRoute,
  resetMyPasswordRoute,
  resetUserPasswordRoute,
  unlockMeRoute,
  unlockUserRoute,
} from '../shared/api/routes.js';
import { ADMIN_ROLE, onPremisesUserOf, requireRole } from '../shared/auth/index.js';
import { httpTrigger } from '../shared/http/endpoint.js';
import {
  submissionResponse,
  writebackOperations,
  type PasswordOperationRequest,
} from '../shared/operations/index.js';

/** The request's trace context, carried into the message (W3C traceparent, if the caller sent one). */
function traceOf(request: HttpRequest): Pick<PasswordOperationRequest, 'traceparent'> {
  const traceparent = request.headers.get('traceparent');
  return traceparent && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(traceparent)
    ? { traceparent }
    : {};
}

function idempotencyOf(headers: {
  'idempotency-key'?: string | undefined;
}): Pick<PasswordOperationRequest, 'idempotencyKey'> {
  const key = headers['idempotency-key'];
  return key === undefined ? {} : { idempotencyKey: key };
}

app.http(
  resetMyPasswordRoute.name,
  httpTrigger(resetMyPasswordRoute, async ({ params, body, headers, caller, request, context }) => {
    const submission = await writebackOperations().submit(
      {
        tenantId: params.tenantId,
        caller,
        route: 'self',
        user: onPremisesUserOf(caller),
        operation: { kind: 'reset', newPassword: body.newPassword },
        ...idempotencyOf(headers),
        ...traceOf(request),
      },
      context,
    );
    return submissionResponse(submission, context.invocationId);
  }),
);

app.http(
  changeMyPasswordRoute.name,
  httpTrigger(changeMyPasswordRoute, async ({ params, body, headers, caller, request, context }) => {
    const submission = await writebackOperations().submit(
      {
        tenantId: params.tenantId,
        caller,
        route: 'self',
        user: onPremisesUserOf(caller),
        operation: { kind: 'change', currentPassword: body.currentPassword, newPassword: body.newPassword },
        ...idempotencyOf(headers),
        ...traceOf(request),
      },
      context,
    );
    return submissionResponse(submission, context.invocationId);
  }),
);

app.http(
  unlockMeRoute.name,
  httpTrigger(unlockMeRoute, async ({ params, headers, caller, request, context }) => {
    const submission = await writebackOperations().submit(
      {
        tenantId: params.tenantId,
        caller,
        route: 'self',
        user: onPremisesUserOf(caller),
        operation: { kind: 'unlock' },
        ...idempotencyOf(headers),
        ...traceOf(request),
      },
      context,
    );
    return submissionResponse(submission, context.invocationId);
  }),
);

app.http(
  resetUserPasswordRoute.name,
  httpTrigger(resetUserPasswordRoute, async ({ params, body, headers, caller, request, context }) => {
    requireRole(caller, ADMIN_ROLE);
    const flags = {
      ...(body?.forceChangeAtNextLogon !== undefined
        ? { forceChangeAtNextLogon: body.forceChangeAtNextLogon }
        : {}),
      ...(body?.unlock !== undefined ? { unlock: body.unlock } : {}),
    };
    const submission = await writebackOperations().submit(
      {
        tenantId: params.tenantId,
        caller,
        route: 'admin',
        user: { kind: 'upn', value: params.upn },
        operation: {
          kind: 'reset',
          ...(body?.newPassword !== undefined ? { newPassword: body.newPassword } : {}),
          flags,
        },
        ...idempotencyOf(headers),
        ...traceOf(request),
      },
      context,
    );
    return submissionResponse(submission, context.invocationId);
  }),
);

app.http(
  unlockUserRoute.name,
  httpTrigger(unlockUserRoute, async ({ params, headers, caller, request, context }) => {
    requireRole(caller, ADMIN_ROLE);
    const submission = await writebackOperations().submit(
      {
        tenantId: params.tenantId,
        caller,
        route: 'admin',
        user: { kind: 'upn', value: params.upn },
        operation: { kind: 'unlock' },
        ...idempotencyOf(headers),
        ...traceOf(request),
      },
      context,
    );
    return submissionResponse(submission, context.invocationId);
  }),
);
