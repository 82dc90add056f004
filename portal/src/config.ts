/**
 * The portal's configuration, `config.json` beside the pages: where users sign in (authority, client
 * id, the API's scope) and where the API is. The same build runs locally and in Azure; only this file
 * differs (README: The portal).
 */
export interface PortalConfig {
  /** e.g. https://login.microsoftonline.com/{tenant id}, or the development provider's https://127.0.0.1:7072/contoso */
  authority: string;
  /** The portal's app registration (single-page application platform). */
  clientId: string;
  /** The API's delegated scope, e.g. api://writeback/access_as_user. */
  apiScope: string;
  /** The API's base URL, ending in /api. */
  apiBaseUrl: string;
}

function httpsOrLoopback(value: unknown, name: string, https: boolean): string {
  if (typeof value !== 'string' || !URL.canParse(value))
    throw new Error(`config.json: ${name} must be a URL`);
  const url = new URL(value);
  const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost';
  if (url.protocol !== 'https:' && (https || !loopback)) {
    throw new Error(`config.json: ${name} must be an https URL${https ? '' : ' (or http on loopback)'}`);
  }
  return value.replace(/\/+$/, '');
}

export async function loadConfig(): Promise<PortalConfig> {
  const response = await fetch('config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`config.json could not be loaded (HTTP ${response.status})`);
  const raw = (await response.json()) as Record<string, unknown>;
  if (typeof raw.clientId !== 'string' || !raw.clientId) throw new Error('config.json: clientId is missing');
  if (typeof raw.apiScope !== 'string' || !raw.apiScope.includes('/')) {
    throw new Error('config.json: apiScope must be the API scope, e.g. api://writeback/access_as_user');
  }
  return {
    // MSAL accepts only an https authority.
    authority: httpsOrLoopback(raw.authority, 'authority', true),
    clientId: raw.clientId,
    apiScope: raw.apiScope,
    apiBaseUrl: httpsOrLoopback(raw.apiBaseUrl, 'apiBaseUrl', false),
  };
}
