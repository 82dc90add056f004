/**
 * The app settings a template gives function apps: `siteConfig.appSettings` entries of
 * Microsoft.Web/sites and the properties of a Microsoft.Web/sites/config named `appsettings`.
 */
import { childrenOf, lineOf, property, stringLiteral, type Node } from './bicep-file.js';
import type { BicepProject, LocatedResource } from './bicep-project.js';

export interface AppSetting {
  name: string;
  value: Node | undefined;
  site: LocatedResource;
  line: number;
}

export function appSettingsOf(project: BicepProject): AppSetting[] {
  const settings: AppSetting[] = [];
  for (const site of project.resources('Microsoft.Web/sites')) {
    if (site.existing) continue;
    const list = project.at(site, 'properties.siteConfig.appSettings');
    for (const entry of list?.type === 'array' ? childrenOf(list) : []) {
      const name = stringLiteral(property(entry, 'name'));
      if (name !== undefined)
        settings.push({ name, value: property(entry, 'value'), site, line: lineOf(entry) });
    }
  }
  for (const config of project.resources('Microsoft.Web/sites/config')) {
    if (project.namesOf(config)[0]?.toLowerCase() !== 'appsettings') continue;
    const values = project.at(config, 'properties');
    for (const entry of values?.type === 'object' ? childrenOf(values) : []) {
      const [key, value] = childrenOf(entry);
      const name = key?.type === 'identifier' ? key.text : stringLiteral(key);
      if (name !== undefined) settings.push({ name, value, site: config, line: lineOf(entry) });
    }
  }
  return settings;
}
