/**
 * Runs Azurite (from npm) inside a process that stops when its parent does. Azurite's own entry
 * point reads its options from argv and shuts down cleanly on SIGTERM. Before Azurite loads, this
 * process starts counting the requests Azurite's servers receive (request-counter.ts).
 */
import { createRequire } from 'node:module';
import { stopWhenParentExits } from '../process/child.js';
import { startRequestCounter } from './request-counter.js';

stopWhenParentExits('SIGTERM');
const counter = await startRequestCounter();
console.log(`Azurite request counters at ${counter.url}`);
const require = createRequire(import.meta.url);
process.argv = [process.argv[0] ?? 'node', 'azurite', ...process.argv.slice(2)];
require('azurite/dist/src/azurite.js');
