/** Every file must parse: a syntax error would also stop `az deployment` and `azd up`. */
import type { BicepProject } from '../bicep-project.js';
import type { Finding } from '../finding.js';

export function parseErrors(project: BicepProject): Finding[] {
  return project.files.flatMap((file) =>
    file.parseErrors.map((error) => ({
      rule: 'parse' as const,
      file: file.path,
      line: error.line,
      message: `syntax error at column ${error.column}: ${JSON.stringify(error.text)}`,
    })),
  );
}
