/** The Azure clients built from the settings, Table helpers, Key Vault cryptography and the dependency wrapper. */
export {
  isTransientKeyVaultError,
  KeyVaultReplySigner,
  KeyVaultRequestCrypto,
  type VaultClientOptions,
  vaultOrigin,
} from './key-vault-crypto.js';
export {
  keyClientFromSettings,
  serviceBusAdministrationClientFromSettings,
  serviceBusClientFromSettings,
  type ServiceBusEndpoint,
  serviceBusEndpointFromSettings,
  tableClientFromSettings,
} from './clients.js';
export {
  callDependency,
  DEPENDENCY_CALL_CAP_MS,
  DependencyTimeout,
  dependencySignal,
} from './call-dependency.js';
export { tableCreator } from './tables.js';
