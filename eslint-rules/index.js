// @ts-check
/**
 * The repository's own lint rules for the structure of shared/ (a local ESLint plugin):
 * - `structure/no-cycle`: no file imports (through any chain of relative imports) back into itself;
 * - `structure/through-index`: code outside a shared/ folder reaches it only through its index.ts,
 *   so each folder has one front door and can rearrange its files freely.
 */
import { basename, relative } from 'node:path';
import { pathBetween, resolveSpecifier } from './import-graph.js';

/** `shared/<folder>` for a file in shared/, else the top folder (`functions`, `agent`, …). */
function folderOf(path) {
  const parts = path.split('/');
  return parts[0] === 'shared' && parts.length > 2 ? `shared/${parts[1]}` : parts[0];
}

/** Calls `check(node, target)` for every relative import, re-export or dynamic import of a file. */
function onImports(context, check) {
  const visit = (node) => {
    const source = node.source;
    if (!source || source.type !== 'Literal' || typeof source.value !== 'string') return;
    if (!source.value.startsWith('.')) return;
    const target = resolveSpecifier(context.filename, source.value);
    if (target) check(source, target);
  };
  return {
    ImportDeclaration: visit,
    ExportNamedDeclaration: visit,
    ExportAllDeclaration: visit,
    ImportExpression: visit,
  };
}

const noCycle = {
  meta: {
    type: 'problem',
    docs: { description: 'Forbid import cycles between files.' },
    schema: [],
    messages: { cycle: 'Import cycle: {{path}}.' },
  },
  create(context) {
    const root = context.cwd;
    return onImports(context, (node, target) => {
      const back = pathBetween(target, context.filename);
      if (!back) return;
      const path = [context.filename, ...back].map((file) => relative(root, file)).join(' → ');
      context.report({ node, messageId: 'cycle', data: { path } });
    });
  },
};

const throughIndex = {
  meta: {
    type: 'problem',
    docs: { description: 'Reach another shared/ folder only through its index.ts.' },
    schema: [
      {
        type: 'object',
        properties: { allow: { type: 'array', items: { type: 'string' } } },
        additionalProperties: false,
      },
    ],
    messages: {
      bypass:
        '{{from}} imports {{target}}: import {{folder}}/index.js instead (export what you need from it).',
    },
  },
  create(context) {
    const root = context.cwd;
    const allowed = new Set(context.options[0]?.allow ?? []);
    const from = folderOf(relative(root, context.filename));
    return onImports(context, (node, target) => {
      const path = relative(root, target);
      const folder = folderOf(path);
      if (!folder.startsWith('shared/') || folder === from || basename(path) === 'index.ts') return;
      if (allowed.has(`${from} -> ${path}`)) return;
      context.report({ node, messageId: 'bypass', data: { from, target: path, folder } });
    });
  },
};

export default { rules: { 'no-cycle': noCycle, 'through-index': throughIndex } };
