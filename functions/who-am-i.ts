/** `GET /api/tenants/{tenantId}/me` (any token of the tenant): the caller as the API sees them. */
import { app } from '@azure/functions';
import { whoAmIRoute } from '../shared/api/index.js';
import { userIdentifierOf } from '../shared/auth/index.js';
import { httpTrigger, NO_STORE } from '../shared/http/index.js';

app.http(
  whoAmIRoute.name,
  httpTrigger(whoAmIRoute, async ({ caller }) => {
    let userIdentifier: string | undefined;
    try {
      userIdentifier = userIdentifierOf(caller);
    } catch {
      userIdentifier = undefined; // an app-only token has no on-premises user, a malformed claim names none
    }
    return {
      status: 200,
      headers: NO_STORE,
      jsonBody: {
        tenantId: caller.tenantId,
        objectId: caller.objectId,
        ...(caller.upn ? { upn: caller.upn } : {}),
        ...(caller.onPremisesSid ? { onPremisesSid: caller.onPremisesSid } : {}),
        roles: caller.roles,
        ...(userIdentifier ? { userIdentifier } : {}),
      },
    };
  }),
);
