/**
 * Claims-based security (`$cbs`): the client puts a token for each audience before it attaches a link;
 * the broker verifies it and remembers what it grants on this connection. Two token types, as Service
 * Bus: a shared access signature (`servicebus.windows.net:sastoken`) or an Entra ID access token (`jwt`).
 */
import type { Message } from 'rhea';
import { EntraAccessError, type EntraAccess } from '../auth/entra-access.js';
import { SasError, resourcePath, verifySasToken, type Grant, type RuleSource } from '../auth/sas.js';
import { parseEntityAddress } from './addresses.js';

export interface CbsReply {
  status: number;
  description: string;
  grant?: Grant;
}

const SAS_TOKEN = 'servicebus.windows.net:sastoken';
const JWT = 'jwt';

export async function handlePutToken(
  request: Message,
  rules: RuleSource,
  entra: EntraAccess | undefined,
): Promise<CbsReply> {
  const properties = request.application_properties ?? {};
  if (properties.operation !== 'put-token') {
    return { status: 400, description: `Unsupported $cbs operation '${String(properties.operation)}'.` };
  }
  const type = String(properties.type ?? '');
  if (type !== SAS_TOKEN && type !== JWT) {
    return {
      status: 400,
      description: `Unsupported token type '${type}'; expected '${SAS_TOKEN}' or '${JWT}'.`,
    };
  }
  if (typeof request.body !== 'string') return { status: 400, description: 'The token is missing.' };
  const audience = resourcePath(String(properties.name ?? ''));
  if (type === JWT) return putJwt(request.body, audience, entra);
  try {
    const grant = verifySasToken(request.body, rules);
    // The token must cover the audience the client asks for.
    if (grant.scope !== '' && audience !== grant.scope && !audience.startsWith(`${grant.scope}/`)) {
      return { status: 401, description: 'The token audience does not cover the requested resource.' };
    }
    return { status: 202, description: 'Accepted', grant };
  } catch (error) {
    if (error instanceof SasError) return { status: 401, description: `Unauthorized: ${error.message}.` };
    throw error;
  }
}

/** An Entra ID token: it grants what its caller's roles allow on the audience's entity. */
async function putJwt(token: string, audience: string, entra: EntraAccess | undefined): Promise<CbsReply> {
  if (!entra) {
    return {
      status: 401,
      description:
        'Unauthorized access. Entra ID tokens are not accepted: the emulator was started without an issuer (--issuer).',
    };
  }
  try {
    const grant = await entra.grantFor(token, audience, parseEntityAddress(audience)?.queue);
    return { status: 202, description: 'Accepted', grant };
  } catch (error) {
    if (error instanceof EntraAccessError) return { status: error.status, description: error.message };
    throw error;
  }
}
