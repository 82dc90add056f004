/**
 * Claims-based security (`$cbs`): the client puts a SAS token for each audience before it attaches a
 * link; the broker verifies it and remembers what it grants on this connection.
 */
import type { Message } from 'rhea';
import { SasError, resourcePath, verifySasToken, type Grant, type RuleSource } from '../auth/sas.js';

export interface CbsReply {
  status: number;
  description: string;
  grant?: Grant;
}

export function handlePutToken(request: Message, rules: RuleSource): CbsReply {
  const properties = request.application_properties ?? {};
  if (properties.operation !== 'put-token') {
    return { status: 400, description: `Unsupported $cbs operation '${String(properties.operation)}'.` };
  }
  const type = String(properties.type ?? '');
  if (type !== 'servicebus.windows.net:sastoken') {
    return {
      status: 400,
      description: `Unsupported token type '${type}'; only SAS tokens are accepted locally.`,
    };
  }
  if (typeof request.body !== 'string') return { status: 400, description: 'The token is missing.' };
  try {
    const grant = verifySasToken(request.body, rules);
    const audience = resourcePath(String(properties.name ?? ''));
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
