/**
 * The development identity provider (docs/local-development.md): a stand-in for Microsoft Entra ID that serves
 * OIDC discovery and JWKS per tenant and mints tokens. A library for tests and `npm start`; the
 * commands are token-cli.ts (people) and server-cli.ts (`npm start`).
 */
import { loadOrCreateSigningKey } from './signing-key.js';
import { createTokenMinter, type MintOptions, type TokenMinter } from './tokens.js';
import { DEFAULT_IDENTITY_HOST, DEFAULT_IDENTITY_PORT } from './server.js';

export {
  startIdentityProvider,
  DEFAULT_IDENTITY_HOST,
  DEFAULT_IDENTITY_PORT,
  type ClientRegistration,
  type IdentityProvider,
  type IdentityProviderOptions,
  type IdentityRequestKind,
} from './server.js';
export { type DevelopmentUser, type SpaRegistration } from './authorization-code.js';
export {
  ADMIN_ROLE,
  DEFAULT_AUDIENCE,
  DEFAULT_LIFETIME_SECONDS,
  DEVELOPMENT_PORTAL_APP_ID,
  isTenantId,
  stableUuid,
  userObjectId,
  type AppTokenOptions,
  type MintOptions,
  type TokenMinter,
} from './tokens.js';

/** Where `npm start` and `npm run token` keep the signing key, relative to the repository root. */
export const DEFAULT_IDENTITY_DATA_DIR = '.local/identity';

/** The base URL of the provider `npm start` runs. */
/** What `npm start` serves: HTTPS with the local CA, since MSAL (@azure/identity) accepts no other authority. */
export const DEFAULT_IDENTITY_URL = `https://${DEFAULT_IDENTITY_HOST}:${DEFAULT_IDENTITY_PORT}`;

export interface OfflineMinterOptions {
  /** Data dir holding the signing key (created with a new key if missing). Default `.local/identity`. */
  dataDir?: string;
  /** Base URL of the provider whose issuer the tokens name. Default http://127.0.0.1:7072. */
  issuerBaseUrl?: string;
}

/**
 * A minter that signs with the key in the data dir, without a server: its tokens validate against a
 * provider started on the same data dir and base URL (now or later).
 */
export async function openOfflineMinter(opts: OfflineMinterOptions = {}): Promise<TokenMinter> {
  const key = await loadOrCreateSigningKey(opts.dataDir ?? DEFAULT_IDENTITY_DATA_DIR);
  return createTokenMinter(key, opts.issuerBaseUrl ?? DEFAULT_IDENTITY_URL);
}

/** One token, minted offline (see openOfflineMinter). */
export async function mintTokenOffline(mint: MintOptions, opts: OfflineMinterOptions = {}): Promise<string> {
  return (await openOfflineMinter(opts)).mintToken(mint);
}
