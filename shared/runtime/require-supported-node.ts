/**
 * Imported for its effect, as the first import of every command-line entry point: ES modules are
 * evaluated in import order, so this runs before any other module of the program (see node-version.ts).
 */
import { requireSupportedNode } from './node-version.js';

requireSupportedNode();
