/**
 * Least privilege, checked on every Microsoft.Authorization/roleAssignments: its role must resolve to
 * one of the intended built-in roles (design.ts), never Owner, Contributor or User Access
 * Administrator. Key Vault Crypto User is the agent's, granted only on a key. The function app's
 * roles are all in one module, and each of them is there.
 */
import { childrenOf, property, type Node } from '../bicep-file.js';
import type { BicepProject, LocatedResource } from '../bicep-project.js';
import { AGENT_ROLE, APP_ROLES, FORBIDDEN_ROLES, type BuiltInRole } from '../design.js';
import type { Finding } from '../finding.js';

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const ROLE_ID_FUNCTIONS = new Set([
  'subscriptionResourceId',
  'tenantResourceId',
  'resourceId',
  'managementGroupResourceId',
]);

/** The role definition's GUID, when the template makes it knowable. */
export function roleIdOf(project: BicepProject, assignment: LocatedResource): string | undefined {
  const node = project.at(assignment, 'properties.roleDefinitionId');
  if (!node) return undefined;
  let target: Node = node;
  if (node.type === 'call_expression') {
    const [callee, args] = childrenOf(node);
    const last = args ? childrenOf(args).at(-1) : undefined;
    if (!callee || !ROLE_ID_FUNCTIONS.has(callee.text) || !last) return undefined;
    target = last;
  }
  const value = project.evaluate(target, assignment.file);
  if (value.kind !== 'literal' || typeof value.value !== 'string') return undefined;
  return GUID.exec(value.value)?.[0]?.toLowerCase();
}

/** The type of the resource the assignment's `scope` names (`vault::key` or a symbol). */
function scopeTypeOf(project: BicepProject, assignment: LocatedResource): string | undefined {
  const scope = assignment.body ? property(assignment.body, 'scope') : undefined;
  if (!scope) return undefined;
  const symbol = scope.type === 'resource_expression' ? childrenOf(scope).at(-1)?.text : scope.text;
  return assignment.file.resources.find((r) => r.symbol === symbol)?.type;
}

function named(id: string, roles: readonly BuiltInRole[]): BuiltInRole | undefined {
  return roles.find((role) => role.id === id);
}

export function roleAssignments(project: BicepProject): Finding[] {
  const findings: Finding[] = [];
  const appAssignments = new Map<string, LocatedResource[]>();
  for (const assignment of project.resources('Microsoft.Authorization/roleAssignments')) {
    if (assignment.existing) continue;
    const at = (message: string): Finding => ({
      rule: 'role-assignments',
      file: assignment.file.path,
      line: assignment.line,
      message: `role assignment ${assignment.symbol}: ${message}`,
    });
    const id = roleIdOf(project, assignment);
    if (!id) {
      findings.push(at('its roleDefinitionId does not resolve to a built-in role id in the template'));
      continue;
    }
    const forbidden = named(id, FORBIDDEN_ROLES);
    if (forbidden) {
      findings.push(at(`${forbidden.name} (${id}) is never granted: use the narrow data role`));
      continue;
    }
    if (id === AGENT_ROLE.id) {
      const scopeType = scopeTypeOf(project, assignment)?.toLowerCase();
      if (scopeType !== 'microsoft.keyvault/vaults/keys') {
        findings.push(
          at(
            `${AGENT_ROLE.name} is only granted on one key (scope: a Microsoft.KeyVault/vaults/keys resource)`,
          ),
        );
      }
      continue;
    }
    const role = named(id, APP_ROLES);
    if (!role) {
      findings.push(
        at(
          `role ${id} is not one of the intended built-in roles (${[...APP_ROLES, AGENT_ROLE].map((r) => r.name).join(', ')})`,
        ),
      );
      continue;
    }
    appAssignments.set(role.id, [...(appAssignments.get(role.id) ?? []), assignment]);
  }

  const files = new Set([...appAssignments.values()].flat().map((a) => a.file.path));
  if (files.size > 1) {
    const [first, ...others] = [...files].sort();
    findings.push({
      rule: 'role-assignments',
      file: others[0] ?? '',
      line: 1,
      message: `the function app's role assignments are spread over ${[first, ...others].join(', ')}: keep them in one module`,
    });
  }
  const home = [...files][0] ?? 'app/roles.bicep';
  for (const role of APP_ROLES) {
    if (!appAssignments.has(role.id)) {
      findings.push({
        rule: 'role-assignments',
        file: home,
        line: 1,
        message: `${role.name} (${role.id}) is not assigned`,
      });
    }
  }
  return findings;
}
