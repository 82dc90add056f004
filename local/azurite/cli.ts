/**
 * Runs Azurite (from npm) inside a process that stops when its parent does. Azurite's own entry
 * point reads its options from argv and shuts down cleanly on SIGTERM.
 */
import { createRequire } from 'node:module';
import { stopWhenParentExits } from '../process/child.js';

stopWhenParentExits('SIGTERM');
const require = createRequire(import.meta.url);
process.argv = [process.argv[0] ?? 'node', 'azurite', ...process.argv.slice(2)];
require('azurite/dist/src/azurite.js');
