/**
 * The resources and properties the design needs, each with the checks that make it what the running
 * code expects. Where the code defines a value (table names, the replies queue and its settings, key
 * names, telemetry names, the key protection default) it is imported from shared/, not repeated.
 */
import { TENANTS_TABLE } from '../../../shared/tenants/tenant-registry.js';
import { AUDIT_TABLE } from '../../../shared/tenants/audit.js';
import { HEARTBEATS_TABLE } from '../../../shared/heartbeats/store.js';
import { OPERATIONS_TABLE } from '../../../shared/operations/store.js';
import { sharedRepliesQueueSettings } from '../../../shared/tenants/queues.js';
import { SHARED_REPLIES_QUEUE, encryptionKeyName, signatureKeyName } from '../../../shared/wire/index.js';
import { APP_SETTINGS } from '../../../shared/config/settings.js';
import { TELEMETRY_EVENT_NAMES, TELEMETRY_METRIC_NAMES } from '../../../shared/telemetry/vocabulary.js';
import { childrenOf, lineOf, property, type Node } from '../bicep-file.js';
import type { BicepProject, LocatedResource, Scalar } from '../bicep-project.js';
import { AGENT_ROLE } from '../design.js';
import type { Finding } from '../finding.js';
import { roleIdOf } from './role-assignments.js';

/** The tables the app reads and writes, from the stores that own them. */
export const CODE_TABLES = [TENANTS_TABLE, HEARTBEATS_TABLE, OPERATIONS_TABLE, AUDIT_TABLE];

type Check =
  { path: string; equals: Scalar } | { path: string; present: true } | { path: string; contains: string };

interface Requirement {
  what: string;
  type: string;
  existing?: boolean;
  /** Only resources in files under this folder (`agent/`); others are looked for outside it. */
  folder?: string;
  /** Picks the candidates among the resources of the type. */
  select?: (project: BicepProject, resource: LocatedResource) => boolean;
  checks?: Check[];
  /** Further problems of a candidate, as messages. */
  verify?: (project: BicepProject, resource: LocatedResource) => string[];
}

/** The objects of an array property (criteria.allOf, dimensions, …). */
function objectsAt(project: BicepProject, resource: LocatedResource, path: string): Node[] {
  const node = project.at(resource, path);
  return node?.type === 'array' ? childrenOf(node).filter((n) => n.type === 'object') : [];
}

function stringsOf(project: BicepProject, node: Node | undefined, resource: LocatedResource): string[] {
  if (!node) return [];
  const value = project.evaluate(node, resource.file);
  if (value.kind === 'literal' && typeof value.value === 'string') return [value.value];
  if (value.kind !== 'array') return [];
  return value.items.flatMap((item) => {
    const v = project.evaluate(item.node, item.file);
    return v.kind === 'literal' && typeof v.value === 'string' ? [v.value] : [];
  });
}

function metricCriteria(project: BicepProject, resource: LocatedResource, metric: string): Node[] {
  return objectsAt(project, resource, 'properties.criteria.allOf').filter(
    (c) => stringsOf(project, property(c, 'metricName'), resource)[0] === metric,
  );
}

function hasDimension(
  project: BicepProject,
  resource: LocatedResource,
  criterion: Node,
  name: string,
  value: string,
): boolean {
  const dimensions = property(criterion, 'dimensions');
  return (dimensions?.type === 'array' ? childrenOf(dimensions) : []).some(
    (d) =>
      stringsOf(project, property(d, 'name'), resource)[0] === name &&
      stringsOf(project, property(d, 'values'), resource).includes(value),
  );
}

function metricAlert(metric: string, what: string, dimension?: { name: string; value: string }): Requirement {
  return {
    what,
    type: 'Microsoft.Insights/metricAlerts',
    select: (project, resource) => metricCriteria(project, resource, metric).length > 0,
    checks: [
      { path: 'properties.scopes', present: true },
      { path: 'properties.actions', present: true },
    ],
    verify: (project, resource) =>
      dimension &&
      !metricCriteria(project, resource, metric).some((c) =>
        hasDimension(project, resource, c, dimension.name, dimension.value),
      )
        ? [`the ${metric} criterion must filter dimension ${dimension.name} on '${dimension.value}'`]
        : [],
  };
}

/** A comment within a few lines above `node` (or on its line) that matches every pattern. */
function commentNear(resource: LocatedResource, node: Node | undefined, patterns: RegExp[]): boolean {
  if (!node) return false;
  const row = node.startPosition.row;
  return resource.file.root
    .descendantsOfType('comment')
    .some(
      (c) =>
        c !== null &&
        c.startPosition.row <= row &&
        c.startPosition.row >= row - 8 &&
        patterns.every((p) => p.test(c.text)),
    );
}

/** The pattern of a key's name in a template: the code's name with the tenant as an interpolation. */
function keyNamePattern(name: (tenant: string) => string): RegExp {
  const placeholder = 'tenantplaceholder';
  const [before = '', after = ''] = name(placeholder).split(placeholder);
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  return new RegExp(`^'${escape(before)}\\$\\{[A-Za-z_]\\w*\\}${escape(after)}'$`);
}

function agentKey(what: string, name: (tenant: string) => string): Requirement {
  const pattern = keyNamePattern(name);
  return {
    what,
    type: 'Microsoft.KeyVault/vaults/keys',
    existing: true,
    folder: 'agent/',
    select: (_project, resource) => pattern.test(property(resource.body, 'name')?.text ?? ''),
    verify: (project, resource) => {
      const granted = resource.file.resources.some((assignment) => {
        if (assignment.type.toLowerCase() !== 'microsoft.authorization/roleassignments') return false;
        const scope = assignment.body ? property(assignment.body, 'scope') : undefined;
        const symbol = scope?.type === 'resource_expression' ? childrenOf(scope).at(-1)?.text : scope?.text;
        return (
          symbol === resource.symbol &&
          roleIdOf(project, { ...assignment, file: resource.file }) === AGENT_ROLE.id
        );
      });
      return granted ? [] : [`no ${AGENT_ROLE.name} assignment is scoped to key ${resource.symbol}`];
    },
  };
}

function requirements(): Requirement[] {
  const replies = sharedRepliesQueueSettings();
  const keyVaultSku = APP_SETTINGS.WRITEBACK_KEY_PROTECTION.default === 'hsm' ? 'premium' : 'standard';
  return [
    { what: 'Log Analytics workspace', type: 'Microsoft.OperationalInsights/workspaces' },
    {
      what: 'workspace-based Application Insights with local auth off',
      type: 'Microsoft.Insights/components',
      checks: [
        { path: 'properties.WorkspaceResourceId', present: true },
        { path: 'properties.DisableLocalAuth', equals: true },
      ],
    },
    {
      what: "the function app's user-assigned identity",
      type: 'Microsoft.ManagedIdentity/userAssignedIdentities',
    },
    {
      what: 'storage account without shared keys',
      type: 'Microsoft.Storage/storageAccounts',
      checks: [
        { path: 'properties.allowSharedKeyAccess', equals: false },
        { path: 'properties.minimumTlsVersion', equals: 'TLS1_2' },
        { path: 'properties.allowBlobPublicAccess', equals: false },
      ],
    },
    ...CODE_TABLES.map((table): Requirement => ({
      what: `table ${table}`,
      type: 'Microsoft.Storage/storageAccounts/tableServices/tables',
      select: (project, resource) => project.namesOf(resource).includes(table),
    })),
    {
      what: 'Flex Consumption deployment container',
      type: 'Microsoft.Storage/storageAccounts/blobServices/containers',
    },
    {
      what: 'Service Bus namespace (SAS kept for the agents, with the reason next to it)',
      type: 'Microsoft.ServiceBus/namespaces',
      checks: [
        { path: 'sku', present: true },
        { path: 'properties.minimumTlsVersion', equals: '1.2' },
        { path: 'properties.disableLocalAuth', equals: false },
      ],
      verify: (project, resource) =>
        commentNear(resource, project.at(resource, 'properties.disableLocalAuth'), [/SAS/, /agent/i])
          ? []
          : ["say next to disableLocalAuth why SAS stays on (the agents' per-queue SAS rules)"],
    },
    {
      what: `queue ${SHARED_REPLIES_QUEUE} with sharedRepliesQueueSettings()`,
      type: 'Microsoft.ServiceBus/namespaces/queues',
      select: (project, resource) => project.namesOf(resource).includes(SHARED_REPLIES_QUEUE),
      checks: Object.entries(replies)
        .filter(([, value]) => value !== undefined)
        .map(([key, value]) => ({ path: `properties.${key}`, equals: value as Scalar })),
    },
    {
      what: 'Key Vault with RBAC, soft delete and purge protection',
      type: 'Microsoft.KeyVault/vaults',
      checks: [
        { path: 'properties.enableRbacAuthorization', equals: true },
        { path: 'properties.enableSoftDelete', equals: true },
        { path: 'properties.enablePurgeProtection', equals: true },
        // The default WRITEBACK_KEY_PROTECTION creates HSM keys: only a premium vault holds them.
        { path: 'properties.sku.name', equals: keyVaultSku },
      ],
    },
    {
      what: 'Flex Consumption plan',
      type: 'Microsoft.Web/serverfarms',
      checks: [
        { path: 'sku.name', equals: 'FC1' },
        { path: 'sku.tier', equals: 'FlexConsumption' },
        { path: 'properties.reserved', equals: true },
      ],
    },
    {
      what: 'function app on Flex Consumption, Node.js 22, user-assigned identity, HTTPS only',
      type: 'Microsoft.Web/sites',
      checks: [
        { path: 'kind', contains: 'functionapp' },
        { path: 'kind', contains: 'linux' },
        { path: 'identity.type', equals: 'UserAssigned' },
        { path: 'properties.httpsOnly', equals: true },
        { path: 'properties.siteConfig.minTlsVersion', equals: '1.2' },
        { path: 'properties.functionAppConfig.runtime.name', equals: 'node' },
        { path: 'properties.functionAppConfig.runtime.version', equals: '22' },
        { path: 'properties.functionAppConfig.scaleAndConcurrency.maximumInstanceCount', present: true },
        { path: 'properties.functionAppConfig.scaleAndConcurrency.instanceMemoryMB', present: true },
        { path: 'properties.functionAppConfig.deployment.storage.value', present: true },
        {
          path: 'properties.functionAppConfig.deployment.storage.authentication.type',
          equals: 'UserAssignedIdentity',
        },
      ],
    },
    {
      what: 'action group that e-mails the operator',
      type: 'Microsoft.Insights/actionGroups',
      checks: [{ path: 'properties.emailReceivers', present: true }],
    },
    metricAlert('Http5xx', "alert on the function app's 5xx answers"),
    metricAlert('DeadletteredMessages', `alert on messages dead-lettered in ${SHARED_REPLIES_QUEUE}`, {
      name: 'EntityName',
      value: SHARED_REPLIES_QUEUE,
    }),
    metricAlert('ServiceApiResult', 'alert on Key Vault throttling (429)', {
      name: 'StatusCode',
      value: '429',
    }),
    {
      what: "alert on a tenant's agent offline, from the app's telemetry",
      type: 'Microsoft.Insights/scheduledQueryRules',
      checks: [{ path: 'properties.actions.actionGroups', present: true }],
      verify: (project, resource) => {
        const queries = objectsAt(project, resource, 'properties.criteria.allOf').flatMap((c) =>
          stringsOf(project, property(c, 'query'), resource),
        );
        if (queries.length === 0) return ['its query cannot be read from the template'];
        const text = queries.join('\n');
        const problems: string[] = [];
        if (!text.includes('writeback.operation.refused') || !text.includes('WritebackOffline')) {
          problems.push('the query must count writeback.operation.refused events with code WritebackOffline');
        }
        for (const name of text.match(/\bwriteback\.[a-z][A-Za-z.]*[A-Za-z]/g) ?? []) {
          if (!TELEMETRY_EVENT_NAMES.has(name) && !TELEMETRY_METRIC_NAMES.has(name)) {
            problems.push(`the query reads ${name}, which shared/telemetry/vocabulary.ts does not send`);
          }
        }
        return problems;
      },
    },
    {
      what: 'Event Grid system topic of the Key Vault',
      type: 'Microsoft.EventGrid/systemTopics',
      checks: [
        { path: 'properties.topicType', equals: 'Microsoft.KeyVault.vaults' },
        { path: 'properties.source', present: true },
      ],
    },
    {
      what: 'Key Vault KeyNearExpiry events to the action group',
      type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions',
      select: (project, resource) =>
        stringsOf(project, project.at(resource, 'properties.filter.includedEventTypes'), resource).includes(
          'Microsoft.KeyVault.KeyNearExpiry',
        ),
      checks: [
        { path: 'properties.destination.endpointType', equals: 'MonitorAlert' },
        { path: 'properties.destination.properties.actionGroups', present: true },
      ],
    },
    agentKey("the agent's access to its encryption key", encryptionKeyName),
    agentKey("the agent's access to its signature key", signatureKeyName),
  ];
}

function problemsOf(project: BicepProject, resource: LocatedResource, requirement: Requirement): string[] {
  const problems: string[] = [];
  for (const check of requirement.checks ?? []) {
    const node = project.at(resource, check.path);
    if (!node) {
      problems.push(`${check.path} is missing`);
      continue;
    }
    if ('present' in check) continue;
    const value = project.evaluate(node, resource.file);
    const actual = value.kind === 'literal' ? value.value : undefined;
    if ('equals' in check && actual !== check.equals) {
      problems.push(
        value.kind === 'literal'
          ? `${check.path} is ${JSON.stringify(actual)}, expected ${JSON.stringify(check.equals)}`
          : `${check.path} must be ${JSON.stringify(check.equals)} (cannot tell from "${node.text.slice(0, 60)}")`,
      );
    }
    if ('contains' in check && !(typeof actual === 'string' && actual.includes(check.contains))) {
      problems.push(`${check.path} must contain '${check.contains}'`);
    }
  }
  return [...problems, ...(requirement.verify?.(project, resource) ?? [])];
}

export function requiredResources(project: BicepProject): Finding[] {
  const findings: Finding[] = [];
  for (const requirement of requirements()) {
    const candidates = project
      .resources(requirement.type)
      .filter((r) => r.existing === (requirement.existing ?? false))
      .filter((r) =>
        requirement.folder ? r.file.path.startsWith(requirement.folder) : !r.file.path.startsWith('agent/'),
      )
      .filter((r) => requirement.select?.(project, r) ?? true);
    if (candidates.length === 0) {
      findings.push({
        rule: 'required',
        file: requirement.folder ?? 'main.bicep',
        line: 1,
        message: `missing: ${requirement.what} (${requirement.type})`,
      });
      continue;
    }
    const results = candidates.map((resource) => ({
      resource,
      problems: problemsOf(project, resource, requirement),
    }));
    if (results.some((r) => r.problems.length === 0)) continue;
    const first = results[0];
    if (!first) continue;
    for (const problem of first.problems) {
      findings.push({
        rule: 'required',
        file: first.resource.file.path,
        line: lineOf(first.resource.node),
        message: `${requirement.what}: ${problem}`,
      });
    }
  }
  return findings;
}
