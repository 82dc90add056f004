/**
 * Every setting the code reads is set on the function app, derived from the code's one settings
 * loader (APP_SETTINGS and CONNECTION_SETTINGS of shared/config/settings.ts) rather than from a list
 * of our own: each plain setting, the identity-based endpoint of each connection, and the host's
 * own storage and telemetry identity settings. A value the template makes knowable must equal the
 * loader's documented default, so the templates deploy what docs/settings.md describes.
 */
import { APP_SETTINGS, CONNECTION_SETTINGS } from '../../../shared/config/settings.js';
import { appSettingsOf } from '../app-settings-of.js';
import type { BicepProject } from '../bicep-project.js';
import { HOST_STORAGE_SETTINGS, HOST_TELEMETRY_SETTING } from '../design.js';
import type { Finding } from '../finding.js';

export function appSettings(project: BicepProject): Finding[] {
  const settings = appSettingsOf(project);
  const sites = project.resources('Microsoft.Web/sites').filter((site) => !site.existing);
  if (sites.length === 0) {
    return [
      {
        rule: 'app-settings',
        file: 'main.bicep',
        line: 1,
        message: 'no function app (Microsoft.Web/sites) is declared',
      },
    ];
  }
  const findings: Finding[] = [];
  for (const site of sites) {
    const own = new Map(
      settings.filter((s) => s.site.file === site.file && s.site.line === site.line).map((s) => [s.name, s]),
    );
    const missing = (name: string, why: string) =>
      findings.push({
        rule: 'app-settings',
        file: site.file.path,
        line: site.line,
        message: `${name} is not set: ${why}`,
      });

    for (const [name, spec] of Object.entries(APP_SETTINGS)) {
      const setting = own.get(name);
      if (!setting) {
        missing(name, 'shared/config/settings.ts reads it');
        continue;
      }
      const documented = (spec as { default?: string }).default;
      if (documented === undefined || !setting.value) continue;
      const value = project.evaluate(setting.value, site.file);
      if (value.kind === 'literal' && String(value.value) !== documented) {
        findings.push({
          rule: 'app-settings',
          file: site.file.path,
          line: setting.line,
          message: `${name} defaults to '${String(value.value)}' here but to '${documented}' in the code and docs/settings.md`,
        });
      }
    }
    for (const [connection, { identityEndpoint }] of Object.entries(CONNECTION_SETTINGS)) {
      const name = `${connection}__${identityEndpoint}`;
      if (!own.has(name)) missing(name, `the code's identity-based ${connection} connection needs it`);
    }
    if (!HOST_STORAGE_SETTINGS.some((name) => own.has(name))) {
      missing(HOST_STORAGE_SETTINGS.join(' or '), "the Functions host's own storage needs it");
    }
    if (!own.has(HOST_TELEMETRY_SETTING)) {
      missing(HOST_TELEMETRY_SETTING, 'the host sends telemetry with its identity (local auth is off)');
    }
  }
  return findings;
}
