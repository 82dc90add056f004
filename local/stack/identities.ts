/**
 * The service identities of the local stack: app registrations with client secrets at the
 * development identity provider, and their Key Vault role assignments.
 *
 * Like Azurite's well-known account key, their secrets are fixed and public: they exist only on
 * loopback, and fixed values let local.settings.sample.json work as it is. Never use them in Azure.
 */
import { DEMO_TENANT, DEMO_USERS } from '../../agent/demo-config.js';
import {
  ADMIN_ROLE,
  DEVELOPMENT_PORTAL_APP_ID,
  stableUuid,
  type DevelopmentUser,
  type SpaRegistration,
} from '../identity/index.js';

/** The tenant that owns the service's own resources (the vault); customers' tenants are others. */
export const SERVICE_TENANT = 'writeback';

export interface VaultRole {
  role: string;
  scope: string;
}

/** A Service Bus data role (Azure Service Bus Data Owner/Sender/Receiver) at `/` or `/queues/{name}`. */
export interface BusRole {
  role: string;
  scope: string;
}

export interface DevIdentity {
  /** What it is for, shown in the banner. */
  purpose: string;
  clientId: string;
  clientSecret: string;
  objectId: string;
  vaultRoles: VaultRole[];
  busRoles: BusRole[];
}

function identity(
  clientId: string,
  purpose: string,
  vaultRoles: VaultRole[],
  busRoles: BusRole[] = [],
): DevIdentity {
  return {
    purpose,
    clientId,
    clientSecret: `local-dev-secret-${clientId}`,
    objectId: stableUuid(`${SERVICE_TENANT}/${clientId}`),
    vaultRoles,
    busRoles,
  };
}

export const DEV_IDENTITIES = {
  functionsApp: identity(
    'writeback-functions',
    'the function app (provisions and reads keys)',
    [{ role: 'Key Vault Crypto Officer', scope: '/' }],
    [{ role: 'Azure Service Bus Data Owner', scope: '/' }],
  ),
  demoAgent: identity(
    'writeback-agent-contoso',
    "the demo tenant's agent (decrypts and signs)",
    [
      { role: 'Key Vault Crypto User', scope: '/keys/writeback-contoso-enc' },
      { role: 'Key Vault Crypto User', scope: '/keys/writeback-contoso-sig' },
    ],
    // What its SAS rules give it: Listen on its requests, Send on its replies.
    [
      { role: 'Azure Service Bus Data Receiver', scope: '/queues/writeback-contoso' },
      { role: 'Azure Service Bus Data Sender', scope: '/queues/writeback-contoso-replies' },
    ],
  ),
  developer: identity(
    'dev-keyvault-officer',
    'you: manage keys and run crypto on every key; Service Bus Data Owner',
    [
      { role: 'Key Vault Crypto Officer', scope: '/' },
      { role: 'Key Vault Crypto User', scope: '/' },
    ],
    [{ role: 'Azure Service Bus Data Owner', scope: '/' }],
  ),
  noRole: identity(
    'dev-no-role',
    'you, without any role (every Key Vault call is 403, every Service Bus token 401)',
    [],
  ),
} as const satisfies Record<string, DevIdentity>;

const all: readonly DevIdentity[] = Object.values(DEV_IDENTITIES);

/** The identity provider's `--clients-file` content. */
export function clientRegistrations(): object[] {
  return all.map((i) => ({ clientId: i.clientId, clientSecret: i.clientSecret, objectId: i.objectId }));
}

/** The Key Vault emulator's `--config` content: who may do what in the vault. */
export function vaultConfig(issuer: string): object {
  return {
    issuer,
    administrators: [DEV_IDENTITIES.developer.objectId],
    roleAssignments: all.flatMap((i) =>
      i.vaultRoles.map((r) => ({ principalId: i.objectId, role: r.role, scope: r.scope })),
    ),
  };
}

/** The Service Bus emulator's `--role-assignments` content: the identities' Service Bus data roles. */
export function serviceBusRoleAssignments(): object[] {
  return all.flatMap((i) =>
    i.busRoles.map((r) => ({ principalId: i.objectId, role: r.role, scope: r.scope })),
  );
}

/** The API's delegated scope that the portal asks for (Entra: "Expose an API" on the API's registration). */
export const PORTAL_API_SCOPE = 'api://writeback/access_as_user';

/**
 * The identity provider's `--sign-in-file` content: the portal as a single-page application whose one
 * redirect URI is its root, and the demo tenant's users for the development sign-in page (the admin
 * with Writeback.Admin).
 */
export function portalSignIn(portalUrl: string): {
  applications: SpaRegistration[];
  users: DevelopmentUser[];
} {
  return {
    applications: [
      {
        clientId: DEVELOPMENT_PORTAL_APP_ID,
        name: 'Password writeback portal',
        redirectUris: [`${portalUrl}/`],
      },
    ],
    users: DEMO_USERS.map((user) => ({
      tenant: DEMO_TENANT,
      upn: user.userPrincipalName,
      name: user.displayName,
      ...(user.userPrincipalName.startsWith('admin@') ? { roles: [ADMIN_ROLE] } : {}),
    })),
  };
}
