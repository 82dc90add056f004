/**
 * `npm run infra:check`: parses every Bicep file of the infra folder with tree-sitter and runs the
 * rules. Nothing here can deploy or reach Azure; it holds the templates to the design and to the code
 * (settings, tables, queues, telemetry names come from shared/).
 */
import { loadBicepFiles } from './bicep-file.js';
import { BicepProject } from './bicep-project.js';
import type { Finding } from './finding.js';
import { apiVersions } from './rules/api-versions.js';
import { appSettings } from './rules/app-settings.js';
import { identityConnections } from './rules/identity-connections.js';
import { outputSecrets } from './rules/output-secrets.js';
import { parseErrors } from './rules/parse-errors.js';
import { requiredResources } from './rules/required-resources.js';
import { roleAssignments } from './rules/role-assignments.js';

export type { Finding, RuleName } from './finding.js';

export interface CheckOptions {
  /** The day API versions are aged against (default: now). */
  today?: Date;
}

export interface CheckResult {
  files: string[];
  findings: Finding[];
}

export async function checkInfra(infraDir: string, options: CheckOptions = {}): Promise<CheckResult> {
  const files = await loadBicepFiles(infraDir);
  const project = new BicepProject(files);
  const findings = parseErrors(project);
  // A file that does not parse makes every other rule guess: report the syntax errors alone.
  if (findings.length === 0) {
    findings.push(
      ...requiredResources(project),
      ...identityConnections(project),
      ...outputSecrets(project),
      ...roleAssignments(project),
      ...appSettings(project),
      ...apiVersions(project, options.today ?? new Date()),
    );
  }
  if (files.length === 0) {
    findings.push({ rule: 'parse', file: '.', line: 1, message: 'no .bicep file found' });
  }
  return { files: files.map((f) => f.path), findings };
}
