/**
 * Key Vault's built-in data-plane roles for keys, by name and by role definition id, with the data
 * actions they grant (`*` matches any rest of the action).
 */
import type { RoleDefinition } from '../../entra/role-assignments.js';

const PREFIX = 'Microsoft.KeyVault/vaults';

export const DataAction = {
  readKey: `${PREFIX}/keys/read`,
  createKey: `${PREFIX}/keys/create/action`,
  importKey: `${PREFIX}/keys/import/action`,
  updateKey: `${PREFIX}/keys/update/action`,
  deleteKey: `${PREFIX}/keys/delete`,
  rotateKey: `${PREFIX}/keys/rotate/action`,
  backupKey: `${PREFIX}/keys/backup/action`,
  restoreKey: `${PREFIX}/keys/restore/action`,
  encrypt: `${PREFIX}/keys/encrypt/action`,
  decrypt: `${PREFIX}/keys/decrypt/action`,
  wrapKey: `${PREFIX}/keys/wrap/action`,
  unwrapKey: `${PREFIX}/keys/unwrap/action`,
  sign: `${PREFIX}/keys/sign/action`,
  verify: `${PREFIX}/keys/verify/action`,
  readRotationPolicy: `${PREFIX}/keyrotationpolicies/read`,
  writeRotationPolicy: `${PREFIX}/keyrotationpolicies/write`,
  readDeletedKey: `${PREFIX}/deletedKeys/read`,
  recoverDeletedKey: `${PREFIX}/deletedKeys/recover/action`,
  purgeDeletedKey: `${PREFIX}/deletedKeys/delete`,
} as const;
export type DataAction = (typeof DataAction)[keyof typeof DataAction];

export type { RoleDefinition } from '../../entra/role-assignments.js';

export const ROLES: readonly RoleDefinition[] = [
  {
    name: 'Key Vault Administrator',
    id: '00482a5a-887f-4fb3-b363-3b7fe8e74483',
    dataActions: [`${PREFIX}/*`],
  },
  {
    name: 'Key Vault Crypto Officer',
    id: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603',
    dataActions: [`${PREFIX}/keys/*`, `${PREFIX}/keyrotationpolicies/*`, `${PREFIX}/deletedKeys/*`],
  },
  {
    name: 'Key Vault Crypto User',
    id: '12338af0-0e69-4776-bea7-57ae8d297424',
    dataActions: [
      DataAction.readKey,
      DataAction.updateKey,
      DataAction.backupKey,
      DataAction.encrypt,
      DataAction.decrypt,
      DataAction.wrapKey,
      DataAction.unwrapKey,
      DataAction.sign,
      DataAction.verify,
    ],
  },
  {
    name: 'Key Vault Crypto Service Encryption User',
    id: 'e147488a-f6f5-4113-8e2d-b22465e65bf6',
    dataActions: [DataAction.readKey, DataAction.wrapKey, DataAction.unwrapKey],
  },
  {
    name: 'Key Vault Reader',
    id: '21090545-7ca7-4776-b22c-e363652d74d2',
    dataActions: [`${PREFIX}/*/read`],
  },
];
