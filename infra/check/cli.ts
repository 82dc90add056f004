/**
 * `npm run infra:check [infra-folder]`: prints each finding as `file:line [rule] message` and exits 1
 * when there is one. The folder defaults to the repository's infra/.
 */
import '../../shared/runtime/require-supported-node.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkInfra } from './check-infra.js';

// dist/infra/check/cli.js -> the repository's infra/ folder.
const defaultDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../infra');
const infraDir = path.resolve(process.argv[2] ?? defaultDir);

const { files, findings } = await checkInfra(infraDir);
for (const finding of findings) {
  const where = path.relative(process.cwd(), path.join(infraDir, finding.file));
  console.error(`${where}:${finding.line} [${finding.rule}] ${finding.message}`);
}
if (findings.length > 0) {
  console.error(`infra:check: ${findings.length} finding(s) in ${files.length} Bicep file(s)`);
  process.exitCode = 1;
} else {
  console.log(`infra:check: ${files.length} Bicep file(s) parsed, every rule passes`);
}
