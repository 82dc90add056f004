/**
 * Identity-based connections only. Fails on: a connection setting holding a connection string
 * (`AzureWebJobsStorage`, `ServiceBusConnection`, any `…ConnectionString` setting but Application
 * Insights'); an identity-based connection without `__credential: managedidentity` and `__clientId`
 * (the app runs as a user-assigned identity, which must be named); Key Vault without `KEYVAULT__clientId`;
 * a Flex Consumption deployment that authenticates with a connection string; and, anywhere in any
 * template, a key or SAS in a string (`AccountKey=`, `SharedAccessKey=`, `SharedAccessSignature=`)
 * or a listKeys()/listConnectionStrings() call in an app setting.
 */
import { KEY_VAULT_CONNECTION } from '../../../shared/azure/clients.js';
import { CONNECTION_SETTINGS } from '../../../shared/config/settings.js';
import { appSettingsOf } from '../app-settings-of.js';
import { lineOf, type Node } from '../bicep-file.js';
import type { BicepProject } from '../bicep-project.js';
import type { Finding } from '../finding.js';

const SECRET_IN_TEXT = /(AccountKey|SharedAccessKey|SharedAccessSignature)\s*=/i;
const LIST_CALL = /\blist(Keys|ConnectionStrings|Secrets|AccountSas|ServiceSas|\w*Keys)\s*\(/;
/** Application Insights' connection string names an endpoint; with local auth off it grants nothing. */
const TELEMETRY_CONNECTION = 'APPLICATIONINSIGHTS_CONNECTION_STRING';

function stringNodes(node: Node): Node[] {
  if (node.type === 'string') return [node];
  return node.namedChildren.flatMap((child) => (child ? stringNodes(child) : []));
}

export function identityConnections(project: BicepProject): Finding[] {
  const findings: Finding[] = [];
  const settings = appSettingsOf(project);
  const byName = new Map(settings.map((s) => [s.name, s]));
  const finding = (file: string, line: number, message: string): Finding => ({
    rule: 'identity-connections',
    file,
    line,
    message,
  });

  for (const setting of settings) {
    const at = (message: string) => finding(setting.site.file.path, setting.line, message);
    if (setting.name in CONNECTION_SETTINGS) {
      findings.push(
        at(
          `${setting.name} is set: it would hold a connection string; use ${setting.name}__${
            CONNECTION_SETTINGS[setting.name as keyof typeof CONNECTION_SETTINGS].identityEndpoint
          } with the app's identity`,
        ),
      );
    } else if (/connection_?string$/i.test(setting.name) && setting.name !== TELEMETRY_CONNECTION) {
      findings.push(at(`${setting.name} holds a connection string: use an identity-based connection`));
    }
    const listCall = LIST_CALL.exec(setting.value?.text ?? '')?.[0];
    if (listCall) findings.push(at(`${setting.name} is built with ${listCall}…): no keys in app settings`));
  }

  // Each identity-based connection names the user-assigned identity it signs in with.
  const sites = new Map(settings.map((s) => [s.site.file.path + ':' + s.site.line, s.site]));
  for (const site of sites.values()) {
    const required: [string, string | undefined][] = [
      ...Object.keys(CONNECTION_SETTINGS).flatMap((connection): [string, string | undefined][] => [
        [`${connection}__credential`, 'managedidentity'],
        [`${connection}__clientId`, undefined],
      ]),
      [`${KEY_VAULT_CONNECTION}__clientId`, undefined],
    ];
    for (const [name, expected] of required) {
      const setting = byName.get(name);
      if (!setting) {
        findings.push(
          finding(
            site.file.path,
            site.line,
            `${name} is not set: the connection would not select the app's user-assigned identity`,
          ),
        );
        continue;
      }
      const value = setting.value ? project.evaluate(setting.value, site.file) : undefined;
      if (expected !== undefined && !(value?.kind === 'literal' && value.value === expected)) {
        findings.push(finding(site.file.path, setting.line, `${name} must be '${expected}'`));
      }
    }
    const deployment = project.literalAt(
      site,
      'properties.functionAppConfig.deployment.storage.authentication.type',
    );
    if (deployment === 'StorageAccountConnectionString') {
      findings.push(
        finding(
          site.file.path,
          site.line,
          'the deployment storage authenticates with a connection string: use UserAssignedIdentity',
        ),
      );
    }
  }

  // A key or SAS written into any template, wherever it is.
  for (const file of project.files) {
    for (const node of stringNodes(file.root)) {
      const match = SECRET_IN_TEXT.exec(node.text);
      if (match)
        findings.push(
          finding(file.path, lineOf(node), `a string carries ${match[0]}…: no keys or SAS in templates`),
        );
    }
  }
  return findings;
}
