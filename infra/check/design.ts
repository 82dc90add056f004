/**
 * What the deployment design allows, as data the rules read: the built-in roles, the Functions host's
 * own identity settings, and the resource types whose newest stable API version is older than two
 * years. What the running code needs (settings, tables, queue settings, telemetry names) is not
 * listed here: the rules import it from shared/, so it cannot drift from the code.
 */

/** A built-in Azure role: its id is the same in every tenant. */
export interface BuiltInRole {
  name: string;
  id: string;
}

/** The function app's identity holds exactly these, each once (infra/app/roles.bicep). */
export const APP_ROLES: readonly BuiltInRole[] = [
  { name: 'Storage Blob Data Owner', id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' },
  { name: 'Storage Table Data Contributor', id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' },
  { name: 'Azure Service Bus Data Owner', id: '090c5cfd-751d-490a-894a-3ce6f1109419' },
  { name: 'Key Vault Crypto Officer', id: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603' },
  { name: 'Monitoring Metrics Publisher', id: '3913510d-42f4-4e42-8a64-420c390055eb' },
];

/** A tenant's agent holds this, and only on its two keys (infra/agent/). */
export const AGENT_ROLE: BuiltInRole = {
  name: 'Key Vault Crypto User',
  id: '12338af0-0e69-4776-bea7-57ae8d297424',
};

/** Roles that are never acceptable, named so that a finding says which one it met. */
export const FORBIDDEN_ROLES: readonly BuiltInRole[] = [
  { name: 'Owner', id: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635' },
  { name: 'Contributor', id: 'b24988ac-6180-42a0-ab88-20f7382dd24c' },
  { name: 'User Access Administrator', id: '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9' },
];

/** The Functions host finds its own storage by account name or blob endpoint (one of them is needed). */
export const HOST_STORAGE_SETTINGS = [
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__blobServiceUri',
];

/** The host's telemetry with Entra ID (Application Insights local auth is off). */
export const HOST_TELEMETRY_SETTING = 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING';

/**
 * Resource types whose newest stable API version is older than two years, with that version: using it
 * is as recent as a template can be (Bicep's own use-recent-api-versions rule makes the same
 * exception). Read from Azure/bicep-types-az (generated/, as of 2026-08-20); when a type gets a newer
 * stable version, drop or update its entry here and move the template to it.
 */
export const NEWEST_STABLE_API_VERSIONS: Readonly<Record<string, string>> = {
  'microsoft.authorization/roleassignments': '2022-04-01',
  'microsoft.insights/components': '2020-02-02',
  'microsoft.insights/actiongroups': '2023-01-01',
  'microsoft.managedidentity/userassignedidentities': '2024-11-30',
};

/** How old an API version may be. */
export const MAX_API_VERSION_AGE_YEARS = 2;
