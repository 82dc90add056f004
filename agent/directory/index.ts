/** The agent's directory layer: one driver interface, an AD driver (LDAP) and an in-memory directory. */
export {
  DirectoryClosedError,
  TOO_LATE,
  silentLogger,
  type DirectoryDriver,
  type DirectoryLogger,
  type DirectoryPolicy,
  type OperationResult,
  type ResetFlags,
  type UserIdentifier,
  type WriteOptions,
} from './driver.js';
export { LdapDirectory, type LdapDirectoryOptions } from './ldap-directory.js';
export {
  DEMO_POLICY,
  InMemoryDirectory,
  type InMemoryDirectoryOptions,
  type LogonResult,
  type SeedUser,
  type UserState,
} from './memory-directory.js';
