/**
 * Checks APPLICATIONINSIGHTS_CONNECTION_STRING at start-up. The SDK would accept a malformed one and
 * silently lose every item; a setting that is wrong must stop the host with its name instead
 * (docs/settings.md). Messages never repeat the value.
 */
import { UUID_PATTERN } from '../domain/index.js';
import { ConfigurationError } from '../errors/index.js';

export const CONNECTION_STRING_SETTING = 'APPLICATIONINSIGHTS_CONNECTION_STRING';

export interface ApplicationInsightsConnection {
  instrumentationKey: string;
  /** The ingestion endpoint when the string names one (else the SDK uses the global endpoint). */
  ingestionEndpoint?: string;
}

const UUID = UUID_PATTERN;

function expectUrl(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError(CONNECTION_STRING_SETTING, `${name} must be an https URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigurationError(CONNECTION_STRING_SETTING, `${name} must be an https URL`);
  }
  return value;
}

/** Parses `Key=value;Key=value` (keys case-insensitive, as the SDK reads them). */
export function parseConnectionString(text: string): ApplicationInsightsConnection {
  const fields = new Map<string, string>();
  for (const part of text.split(';')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) {
      throw new ConfigurationError(CONNECTION_STRING_SETTING, 'expected Key=value pairs separated by ";"');
    }
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const instrumentationKey = fields.get('instrumentationkey');
  if (!instrumentationKey || !UUID.test(instrumentationKey)) {
    throw new ConfigurationError(CONNECTION_STRING_SETTING, 'expected InstrumentationKey=<GUID>');
  }
  const ingestionEndpoint = expectUrl('IngestionEndpoint', fields.get('ingestionendpoint'));
  expectUrl('LiveEndpoint', fields.get('liveendpoint'));
  return { instrumentationKey, ...(ingestionEndpoint ? { ingestionEndpoint } : {}) };
}
