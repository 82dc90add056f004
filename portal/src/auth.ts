/**
 * Sign-in with MSAL.js (@azure/msal-browser, loaded by a script tag as the global `msal`): the
 * authorization code flow with PKCE and one single-page-application redirect URI, the portal's root.
 * MSAL keeps its cache in sessionStorage, so nothing outlives the tab; tokens travel only in request
 * headers and MSAL's own token requests, never in a URL.
 */
import type * as Msal from '@azure/msal-browser';
import type { PortalConfig } from './config.js';

declare global {
  // The UMD bundle's global (vendor/msal-browser.min.js).
  var msal: typeof Msal;
}

export interface SignedInUser {
  name: string;
  username: string;
  tenantId: string;
}

export interface Auth {
  /** The user, once signed in (after the redirect back, or from this tab's session). */
  user: SignedInUser | undefined;
  signIn(): Promise<void>;
  signOut(): Promise<void>;
  /** An access token for the API, renewed silently; signs in again when it cannot be. */
  token(): Promise<string>;
}

/** The page to go back to after signing in, kept in MSAL's state (a page name, nothing secret). */
const RETURN_PAGES = new Set(['index.html', 'admin.html']);

function currentPage(): string {
  const page = location.pathname.split('/').pop() || 'index.html';
  return RETURN_PAGES.has(page) ? page : 'index.html';
}

export async function startAuth(config: PortalConfig): Promise<Auth> {
  const redirectUri = new URL('./', location.href).href;
  const client = new msal.PublicClientApplication({
    auth: {
      clientId: config.clientId,
      authority: config.authority,
      // Listed, so MSAL trusts the authority's own discovery document and asks no other host.
      knownAuthorities: [new URL(config.authority).host],
      redirectUri,
      postLogoutRedirectUri: redirectUri,
    },
    cache: { cacheLocation: 'sessionStorage' },
    system: { loggerOptions: { piiLoggingEnabled: false, logLevel: msal.LogLevel.Error } },
  });
  await client.initialize();
  const result = await client.handleRedirectPromise();
  if (result?.account) client.setActiveAccount(result.account);
  if (result?.state && RETURN_PAGES.has(result.state) && result.state !== currentPage()) {
    location.replace(result.state);
    await new Promise(() => undefined); // the page is going away
  }
  const account = client.getActiveAccount() ?? client.getAllAccounts()[0];
  if (account) client.setActiveAccount(account);
  const scopes = [config.apiScope];

  const signIn = () => client.loginRedirect({ scopes, state: currentPage(), prompt: 'select_account' });
  return {
    user: account
      ? { name: account.name ?? account.username, username: account.username, tenantId: account.tenantId }
      : undefined,
    signIn,
    signOut: () => client.logoutRedirect({ account: client.getActiveAccount() }),
    async token() {
      const active = client.getActiveAccount();
      if (!active) {
        await signIn();
        throw new Error('signing in');
      }
      try {
        return (await client.acquireTokenSilent({ scopes, account: active })).accessToken;
      } catch (error) {
        if (error instanceof msal.InteractionRequiredAuthError) {
          await client.acquireTokenRedirect({ scopes, account: active, state: currentPage() });
        }
        throw error;
      }
    },
  };
}
