/**
 * The service identities of the local stack: app registrations with client secrets at the
 * development identity provider, and their Key Vault role assignments.
 *
 * Like Azurite's well-known account key, their secrets are fixed and public: they exist only on
 * loopback, and fixed values let local.settings.sample.json work as it is. Never use them in Azure.
 */
import { stableUuid } from '../identity/index.js';

/** The tenant that owns the service's own resources (the vault); customers' tenants are others. */
export const SERVICE_TENANT = 'writeback';

export interface VaultRole {
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
}

function identity(clientId: string, purpose: string, vaultRoles: VaultRole[]): DevIdentity {
  return {
    purpose,
    clientId,
    clientSecret: `local-dev-secret-${clientId}`,
    objectId: stableUuid(`${SERVICE_TENANT}/${clientId}`),
    vaultRoles,
  };
}

export const DEV_IDENTITIES = {
  functionsApp: identity('writeback-functions', 'the function app (provisions and reads keys)', [
    { role: 'Key Vault Crypto Officer', scope: '/' },
  ]),
  demoAgent: identity('writeback-agent-contoso', "the demo tenant's agent (decrypts and signs)", [
    { role: 'Key Vault Crypto User', scope: '/keys/writeback-contoso-enc' },
    { role: 'Key Vault Crypto User', scope: '/keys/writeback-contoso-sig' },
  ]),
  developer: identity('dev-keyvault-officer', 'you: manage keys and run crypto on every key', [
    { role: 'Key Vault Crypto Officer', scope: '/' },
    { role: 'Key Vault Crypto User', scope: '/' },
  ]),
  noRole: identity('dev-no-role', 'you, without any role (every Key Vault call is 403)', []),
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
