// @ts-check
/* global process, console */
/**
 * The import graph of the TypeScript sources, read from their import and export-from statements
 * (relative specifiers only: packages are not part of the graph). Used by the `imports/no-cycle`
 * rule and by `node eslint-rules/import-graph.js` to list the cycles.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

const SPECIFIER =
  /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;

/** The .ts file a relative specifier (written with .js, as NodeNext wants) names, if it exists. */
export function resolveSpecifier(fromFile, specifier) {
  const target = resolve(dirname(fromFile), specifier.replace(/\.js$/, '.ts'));
  return existsSync(target) ? target : undefined;
}

/** Relative specifiers of a source text. */
export function specifiersOf(text) {
  return [...text.matchAll(SPECIFIER)].map((m) => m[1]);
}

const edgesCache = new Map();

/** The files `file` imports (cached per process: ESLint runs once over a fixed tree). */
export function importsOf(file) {
  let edges = edgesCache.get(file);
  if (!edges) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    edges = specifiersOf(text)
      .map((specifier) => resolveSpecifier(file, specifier))
      .filter((target) => target !== undefined);
    edgesCache.set(file, edges);
  }
  return edges;
}

/** A path of imports from `from` back to `to`, or undefined when there is none. */
export function pathBetween(from, to) {
  const seen = new Set();
  const stack = [[from, [from]]];
  while (stack.length > 0) {
    const [file, path] = stack.pop();
    if (file === to) return path;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const next of importsOf(file)) stack.push([next, [...path, next]]);
  }
  return undefined;
}

/** The strongly connected components of more than one file (Tarjan), reachable from `roots`. */
export function cyclesFrom(roots) {
  let index = 0;
  const indexOf = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const components = [];
  const visit = (file) => {
    indexOf.set(file, index);
    low.set(file, index);
    index += 1;
    stack.push(file);
    onStack.add(file);
    for (const next of importsOf(file)) {
      if (!indexOf.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file), low.get(next)));
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file), indexOf.get(next)));
      }
    }
    if (low.get(file) === indexOf.get(file)) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        component.push(member);
      } while (member !== file);
      if (component.length > 1) components.push(component);
    }
  };
  for (const root of roots) if (!indexOf.has(root)) visit(root);
  return components;
}

// `node eslint-rules/import-graph.js file…`: prints the cycles among those files and what they import.
if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const roots = process.argv.slice(2).map((file) => resolve(file));
  const cycles = cyclesFrom(roots);
  for (const cycle of cycles)
    console.log(cycle.map((file) => relative(process.cwd(), file)).join('\n  '), '\n');
  console.log(`${cycles.length} cycle(s)`);
}
