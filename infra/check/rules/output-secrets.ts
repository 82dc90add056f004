/**
 * No secret in any output: deployment outputs are readable by anyone who can read the deployment
 * (and azd writes them to .azure/<env>/.env). Fails on @secure() outputs and on outputs whose value
 * lists keys or connection strings or names a key, SAS or connection string property.
 */
import type { BicepProject } from '../bicep-project.js';
import type { Finding } from '../finding.js';

/** Calls and properties that yield secrets. */
export const SECRET_PATTERNS: readonly RegExp[] = [
  /\blist[A-Z]\w*\s*\(/, // listKeys(), listConnectionStrings(), listSecrets(), listAccountSas(), …
  /\bgetSecret\s*\(/,
  /\b(primary|secondary)(Key|ConnectionString|MasterKey|ReadonlyMasterKey)\b/i,
  /\bconnectionString\b/i,
  /\binstrumentationKey\b/i,
  /\b(AccountKey|SharedAccessKey|SharedAccessSignature)\s*=/i,
];

export function outputSecrets(project: BicepProject): Finding[] {
  const findings: Finding[] = [];
  for (const file of project.files) {
    for (const output of file.outputs) {
      const at = { rule: 'output-secrets' as const, file: file.path, line: output.line };
      if (output.decorators.includes('secure')) {
        findings.push({
          ...at,
          message: `output ${output.name} is @secure(): outputs must not carry secrets`,
        });
      }
      const text = output.value?.text ?? '';
      const match = SECRET_PATTERNS.find((pattern) => pattern.test(text));
      if (match) {
        findings.push({
          ...at,
          message: `output ${output.name} carries a secret (${match.exec(text)?.[0].trim()}): output names and endpoints only`,
        });
      }
    }
  }
  return findings;
}
