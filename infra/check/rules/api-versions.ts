/**
 * API versions no older than two years (compared by the `@YYYY-MM-DD` date), unless the version is the
 * newest stable one of its type (design.ts). Old versions miss properties and defaults the design
 * relies on, and are the first to be retired.
 */
import type { BicepProject } from '../bicep-project.js';
import { MAX_API_VERSION_AGE_YEARS, NEWEST_STABLE_API_VERSIONS } from '../design.js';
import type { Finding } from '../finding.js';

export function apiVersions(project: BicepProject, today: Date): Finding[] {
  const cutoff = new Date(today);
  cutoff.setUTCFullYear(cutoff.getUTCFullYear() - MAX_API_VERSION_AGE_YEARS);
  const oldest = cutoff.toISOString().slice(0, 10);
  const findings: Finding[] = [];
  for (const resource of project.resources()) {
    // A nested child inherits its parent's version: reported once, on the parent.
    if (resource.parent && !resource.apiVersionDeclared) continue;
    const version = resource.apiVersion;
    const date = version ? /^(\d{4}-\d{2}-\d{2})/.exec(version)?.[1] : undefined;
    if (!version || !date) {
      findings.push({
        rule: 'api-versions',
        file: resource.file.path,
        line: resource.line,
        message: `resource ${resource.symbol} (${resource.type}) has no @YYYY-MM-DD API version`,
      });
      continue;
    }
    if (date >= oldest) continue;
    if (NEWEST_STABLE_API_VERSIONS[resource.type.toLowerCase()] === version) continue;
    findings.push({
      rule: 'api-versions',
      file: resource.file.path,
      line: resource.line,
      message: `${resource.type}@${version} is older than ${MAX_API_VERSION_AGE_YEARS} years (before ${oldest}); use a recent stable version`,
    });
  }
  return findings;
}
