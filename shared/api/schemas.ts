/**
 * Schemas of the HTTP API. They validate requests and, through zod-openapi, are the OpenAPI
 * document: one definition, so the document grows with every route.
 */
import { OPERATION_ID_PATTERN } from '../domain/index.js';
import { z } from 'zod';
import 'zod-openapi';
import { OPERATION_KINDS, OPERATION_STATES, POLICY_REASONS, PROBLEM_CODES } from '../domain/index.js';

/**
 * Tenant ids name queues and keys (`writeback-{tenantId}`), hence the narrow pattern (docs/wire.md)
 * and two more rules that keep tenants apart on shared infrastructure (shared/wire `wireTenantId`):
 * lower case only, because Service Bus and Key Vault names are case-insensitive (`Contoso` would share
 * `contoso`'s queues and keys); and not `replies` or `…-replies`, whose request queue would be another
 * tenant's replies queue (or the shared one). Refused, not normalised: the token's `tid` must equal
 * the route's tenant id exactly, and Entra ID tenant ids are lower-case GUIDs.
 */
export const TenantId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/,
    'must be 1-63 letters, digits or hyphens, starting with a letter or digit',
  )
  .refine((id) => id === id.toLowerCase(), {
    message: 'must be lower case (queue and key names are case-insensitive)',
    abort: true,
  })
  .refine((id) => id !== 'replies' && !id.endsWith('-replies'), {
    message: "must not be 'replies' or end in '-replies' (it would collide with a replies queue name)",
  })
  .meta({
    description:
      'The tenant id (Entra ID tenant id or a short name): lower case, and not ending in -replies.',
    example: 'contoso',
  });

export const TenantParams = z.object({ tenantId: TenantId });

export const ProblemDetails = z
  .object({
    type: z.string().meta({ description: 'A URI that identifies the problem type.' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.enum(PROBLEM_CODES),
    operationId: z.string().optional(),
    reason: z
      .enum(POLICY_REASONS)
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

const Timestamp = z.string().meta({ format: 'date-time' });

export const Actor = z
  .object({ objectId: z.string(), upn: z.string().optional() })
  .meta({ id: 'Actor', description: 'Who made a change: the token oid, and upn when the token has one.' });

const RolloverState = z.enum(['current', 'rolling', 'overdue']);

export const KeyVersionView = z
  .object({
    keyId: z.string().meta({ description: 'The current versioned key id.' }),
    createdAt: Timestamp.optional(),
    expiresAt: Timestamp.optional().meta({
      description:
        "Key Vault's expiry of this version (from the rotation policy: a little over two periods).",
    }),
    replaced: z
      .array(
        z.object({
          keyId: z.string(),
          replacedAt: Timestamp,
          disableAfter: Timestamp.meta({
            description:
              'When its grace ends and the timer disables it; until then it still opens and verifies.',
          }),
        }),
      )
      .meta({ description: 'Versions replaced by a rollover and still enabled (in grace), oldest first.' }),
  })
  .meta({ id: 'KeyVersionView' });

export const KeyRolloverView = z
  .object({
    encryption: KeyVersionView,
    signature: KeyVersionView,
    nextRolloverAt: Timestamp.nullable().meta({
      description:
        'When the keyRollover timer rolls the keys next: the older current version reaches KEY_ROLLOVER_AFTER, ' +
        'less a fixed per-tenant offset that spreads tenants over up to a week.',
    }),
    lastRolledAt: Timestamp.optional(),
    state: RolloverState.meta({
      description: 'rolling: a rollover is under way; overdue: more than a day past nextRolloverAt.',
    }),
  })
  .meta({ id: 'KeyRolloverView' });

export const AgentCredentialsView = z
  .object({
    keySlot: z
      .enum(['primary', 'secondary'])
      .meta({ description: "The SAS key slot of the agent's rules it uses." }),
    rolledAt: Timestamp.optional().meta({ description: 'When the agent last acknowledged new SAS keys.' }),
    pending: z
      .object({
        rolloverId: z.string(),
        since: Timestamp,
        sentAt: Timestamp.optional(),
        agents: z.array(z.string()).optional().meta({
          description: 'The agents the control message last went to, each in its own session.',
        }),
        acknowledgedBy: z.array(z.string()).optional().meta({
          description: 'The agents that acknowledged; the old keys go once every agent still seen did.',
        }),
      })
      .optional()
      .meta({
        description:
          'New SAS keys sent to the agents and not yet acknowledged by all of them; the old ones still work.',
      }),
    state: RolloverState.meta({
      description:
        'rolling: waiting for the agents to acknowledge; overdue: one has not for longer than ' +
        'KEY_ROLLOVER_AFTER or a day, whichever is shorter (the agents keep working on their old keys).',
    }),
  })
  .meta({ id: 'AgentCredentialsView' });

export const WritebackConfiguration = z
  .object({
    tenantId: z.string(),
    state: z.enum(['provisioning', 'enabled', 'disabling', 'disabled']).meta({
      description:
        'provisioning: an enable stopped half-way (PUT again completes it); disabling: a disable stopped ' +
        'half-way (DELETE again completes it). Password operations run only when enabled.',
    }),
    serviceBusEndpoint: z.string().meta({ description: 'The Service Bus namespace the agent connects to.' }),
    requestQueue: z.string().meta({ description: 'writeback-{tenantId}: the agent receives requests here.' }),
    repliesQueue: z
      .string()
      .meta({ description: 'writeback-{tenantId}-replies: the agent sends results and heartbeats here.' }),
    agentListenRule: z.string().meta({ description: 'The Listen-only SAS rule on the request queue.' }),
    agentSendRule: z.string().meta({ description: 'The Send-only SAS rule on the replies queue.' }),
    encryptionKeyId: z.string().optional().meta({ description: 'Versioned id of writeback-{tenantId}-enc.' }),
    signatureKeyId: z.string().optional().meta({ description: 'Versioned id of writeback-{tenantId}-sig.' }),
    enabledAt: Timestamp.optional(),
    enabledBy: Actor.optional(),
    disabledAt: Timestamp.optional(),
    disabledBy: Actor.optional(),
    keys: KeyRolloverView.optional().meta({ description: 'Key rollover, while writeback is enabled.' }),
    agentCredentials: AgentCredentialsView.optional(),
    updatedAt: Timestamp,
  })
  .meta({ id: 'WritebackConfiguration', description: "A tenant's writeback configuration; no secret." });

export const WritebackEnabled = WritebackConfiguration.extend({
  agentConnectionStrings: z
    .object({
      listen: z.string().meta({ description: 'Listen on the request queue only (EntityPath set).' }),
      send: z.string().meta({ description: 'Send on the replies queue only (EntityPath set).' }),
    })
    .meta({
      description:
        "The agent's Service Bus connection strings with their SAS keys. Answered once, by the PUT that " +
        'completes an enable; never again (disable and enable again to issue new ones).',
    }),
}).meta({
  id: 'WritebackEnabled',
  description: 'Writeback was enabled: the configuration and the agent secrets.',
});

export const DirectoryPolicy = z
  .object({
    minLength: z.number().int(),
    complexity: z.boolean(),
    historyLength: z.number().int(),
    minimumAgeSeconds: z.number().int(),
    lockoutThreshold: z.number().int().meta({ description: '0: accounts are never locked out.' }),
  })
  .meta({
    id: 'DirectoryPolicy',
    description: "The on-premises domain's password policy, as the agent reads it.",
  });

export const AgentStatus = z
  .object({
    agentId: z.string(),
    version: z.string(),
    lastHeartbeatAt: Timestamp.meta({ description: 'The signed time of its last heartbeat.' }),
    state: z.enum(['online', 'standby', 'offline', 'stale']).meta({
      description:
        'online: a fresh heartbeat, and the agent applies requests; standby: a fresh heartbeat from a second ' +
        'agent that takes over when the active one stops or fails; offline: its last heartbeat said it was ' +
        'shutting down; stale: no heartbeat for longer than 2 × HEARTBEAT_INTERVAL + 1 minute.',
    }),
  })
  .meta({ id: 'AgentStatus' });

export const WritebackStatus = z
  .object({
    state: z.enum(['online', 'offline', 'disabled']).meta({
      description:
        'disabled: writeback is not enabled for the tenant; online: at least one agent is online; offline: none ' +
        'is, and password operations answer 503 WritebackOffline.',
    }),
    lastHeartbeatAt: Timestamp.nullable().meta({ description: 'The newest heartbeat of any agent.' }),
    agents: z.array(AgentStatus).meta({ description: 'Agents of the current enablement, newest first.' }),
    policy: DirectoryPolicy.optional().meta({
      description: 'The policy reported by the freshest online agent.',
    }),
    keys: RolloverState.optional().meta({
      description: 'While enabled: current, rolling, or overdue (more than a day past the next rollover).',
    }),
    agentCredentials: RolloverState.optional().meta({
      description: 'While enabled: overdue when the agent has not acknowledged new SAS keys in time.',
    }),
  })
  .meta({ id: 'WritebackStatus' });

export const RolloverRequest = z
  .strictObject({
    reason: z.string().min(1).max(200).optional().meta({ description: 'Why (kept in the audit row).' }),
  })
  .optional()
  .meta({ id: 'RolloverRequest', description: 'The body may be omitted.' });

export const RolloverStarted = z
  .object({
    rolloverId: z.string(),
    encryptionKeyId: z.string().meta({ description: 'The new versioned id of writeback-{tenantId}-enc.' }),
    signatureKeyId: z.string().meta({ description: 'The new versioned id of writeback-{tenantId}-sig.' }),
    agentCredentials: z.literal('pending').meta({
      description: "The agent's new SAS keys are sent; the old ones are retired when it acknowledges.",
    }),
  })
  .meta({ id: 'RolloverStarted' });

// ---- password operations ----------------------------------------------------------------------

/** Lone surrogates cannot be encoded in UTF-8: the directory would receive something else. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * A password exactly as typed: 1–256 characters (Unicode code points), never trimmed or normalised,
 * because AD must receive what the user typed. Messages name the rule, never the value.
 */
export const Password = z
  .string()
  .refine((value) => value.length > 0, 'must not be empty')
  .refine((value) => !LONE_SURROGATE.test(value), 'must be well-formed Unicode')
  .refine((value) => [...value].length <= 256, 'must be at most 256 characters')
  .meta({ format: 'password', description: '1-256 characters, sent to AD exactly as given.' });

export const ResetMyPasswordBody = z.strictObject({ newPassword: Password }).meta({
  id: 'ResetMyPasswordRequest',
  description: 'Self-service reset, after the portal verified the user.',
});

export const ChangeMyPasswordBody = z
  .strictObject({ currentPassword: Password, newPassword: Password })
  .meta({
    id: 'ChangeMyPasswordRequest',
    description: 'The user changes their password; AD checks the current one.',
  });

export const ResetUserPasswordBody = z
  .strictObject({
    newPassword: Password.optional().meta({
      description: 'Omit it to have a strong temporary password generated and returned once.',
    }),
    forceChangeAtNextLogon: z.boolean().optional().meta({ description: 'Sets pwdLastSet to 0.' }),
    unlock: z.boolean().optional().meta({ description: 'Also clears a lockout.' }),
  })
  .optional()
  .meta({ id: 'ResetUserPasswordRequest', description: 'Admin reset; the body may be omitted.' });

/** A user principal name as AD holds it: `name@suffix`, up to 1024 UTF-8 bytes. */
export const UserPrincipalName = z
  .string()
  .regex(/^[^@\s]+@[^@\s]+$/, 'must be a user principal name such as alice@contoso.test')
  .refine((value) => !LONE_SURROGATE.test(value), 'must be well-formed Unicode')
  .refine((value) => Buffer.byteLength(value, 'utf8') <= 1024, 'must be at most 1024 bytes')
  .meta({ example: 'alice@contoso.test' });

export const UserParams = z.object({ tenantId: TenantId, upn: UserPrincipalName });

export const OperationId = z
  .string()
  .regex(OPERATION_ID_PATTERN, 'must be a lower-case UUID')
  .meta({ description: 'The operation id that a password route answered.' });

export const OperationParams = z.object({ tenantId: TenantId, operationId: OperationId });

export const OperationQuery = z.object({
  waitSeconds: z.coerce
    .number()
    .int('must be a whole number')
    .min(0)
    .max(60)
    .optional()
    .meta({ description: 'Wait up to this many seconds (0-60) for a pending operation to finish.' }),
});

export const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .optional()
    .meta({
      description:
        'A key of the client’s choosing: a repeat within 24 hours returns the first request’s operation and outcome ' +
        'and sends nothing new.',
    }),
});

export const OperationSucceeded = z
  .object({
    operationId: z.string(),
    status: z.literal('succeeded'),
    completedAt: Timestamp,
    temporaryPassword: z.string().optional().meta({
      description: 'Admin reset without newPassword: the generated password, shown this once.',
    }),
  })
  .meta({ id: 'OperationSucceeded' });

export const OperationPending = z
  .object({
    operationId: z.string(),
    status: z.literal('pending'),
    temporaryPassword: z.string().optional().meta({
      description: 'Admin reset without newPassword: the generated password, shown this once.',
    }),
  })
  .meta({
    id: 'OperationPending',
    description: 'The agent has not answered within WRITEBACK_SYNC_WAIT: follow Location, after Retry-After.',
  });

export const OperationStatus = z
  .object({
    operationId: z.string(),
    kind: z.enum(OPERATION_KINDS),
    status: z.enum(OPERATION_STATES),
    createdAt: Timestamp,
    expiresAt: Timestamp.meta({ description: 'After this the agent refuses the request.' }),
    completedAt: Timestamp.optional(),
    error: z
      .object({
        code: z.string(),
        status: z.number().int(),
        title: z.string(),
        detail: z.string(),
        reason: z.string().optional(),
      })
      .optional()
      .meta({
        description: 'For failed and expired operations: the problem the password route answers with.',
      }),
  })
  .meta({ id: 'OperationStatus' });

// ---- audit trail -------------------------------------------------------------------------------

export const AuditQuery = z.object({
  top: z.coerce
    .number()
    .int('must be a whole number')
    .min(1)
    .max(200)
    .optional()
    .meta({ description: 'How many entries, newest first (1-200, default 50).' }),
});

export const AuditEntry = z
  .object({
    at: Timestamp.meta({ description: 'When it was asked for (an operation) or happened (an audit row).' }),
    source: z.enum(['operation', 'audit']).meta({
      description:
        "operation: an accepted password operation's own row; audit: an admin action or a refusal.",
    }),
    action: z.string().meta({
      description:
        'PasswordReset, PasswordChange, AccountUnlock, WritebackEnabled, WritebackDisabled or KeyRolledOver.',
    }),
    outcome: z.string().meta({ description: 'pending, succeeded, failed, expired or refused.' }),
    actor: Actor,
    target: z.string().meta({ description: 'The user (upn:… or sid:…) or the tenant configuration.' }),
    route: z.string().optional().meta({ description: 'self or admin.' }),
    operationId: z.string().optional(),
    completedAt: Timestamp.optional(),
    code: z.string().optional().meta({ description: 'The problem code of a failure or refusal.' }),
    reason: z.string().optional().meta({ description: 'For PasswordPolicy: the rule that failed.' }),
    flags: z.array(z.string()).optional(),
    previousVersion: z.string().optional().meta({ description: 'A rollover: the replaced key version.' }),
    newVersion: z.string().optional(),
    note: z.string().optional(),
  })
  .meta({ id: 'AuditEntry', description: 'One entry of the audit trail; never a secret.' });

export const AuditTrail = z
  .object({
    entries: z.array(AuditEntry).meta({ description: 'Newest first.' }),
    from: Timestamp.meta({ description: 'The start of the time window read (at most 90 days back).' }),
  })
  .meta({ id: 'AuditTrail' });

/** Unlock takes no body: none, or an empty JSON object; anything else is refused, not ignored. */
export const NoBody = z.strictObject({}).optional().meta({ id: 'NoBody', description: 'No body, or {}.' });
