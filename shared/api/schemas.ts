/**
 * Schemas of the HTTP API. They validate requests and, through zod-openapi, are the OpenAPI
 * document: one definition, so the document grows with every route.
 */
import { z } from 'zod';
import 'zod-openapi';
import { PROBLEM_CATALOGUE, type ProblemCode } from '../errors/index.js';

/** Tenant ids name queues and keys (`writeback-{tenantId}`), hence the narrow pattern (DESIGN.md §5). */
export const TenantId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/,
    'must be 1-63 letters, digits or hyphens, starting with a letter or digit',
  )
  .meta({ description: 'The tenant id (Entra ID tenant id or a short name).', example: 'contoso' });

export const TenantParams = z.object({ tenantId: TenantId });

export const ProblemDetails = z
  .object({
    type: z.string().meta({ description: 'A URI that identifies the problem type.' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.enum(Object.keys(PROBLEM_CATALOGUE) as [ProblemCode, ...ProblemCode[]]),
    operationId: z.string().optional(),
    reason: z
      .enum(['tooShort', 'tooLong', 'complexity', 'history', 'minimumAge', 'blocklisted', 'other'])
      .optional()
      .meta({ description: 'For PasswordPolicy: the rule that failed.' }),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .meta({ description: 'For InvalidRequest: each offending field.' }),
  })
  .meta({ id: 'ProblemDetails', description: 'RFC 9457 problem details.' });

export const HealthReport = z
  .object({
    status: z.literal('ok'),
    version: z.string(),
    time: z.string().meta({ format: 'date-time' }),
  })
  .meta({ id: 'HealthReport' });

export const CallerIdentity = z
  .object({
    tenantId: z.string(),
    objectId: z.string(),
    upn: z.string().optional(),
    onPremisesSid: z.string().optional(),
    roles: z.array(z.string()),
    userIdentifier: z.string().optional().meta({
      description: 'How self-service routes identify you on premises: onprem_sid if present, else upn.',
    }),
  })
  .meta({ id: 'CallerIdentity' });
