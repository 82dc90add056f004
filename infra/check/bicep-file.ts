/**
 * Bicep files parsed with tree-sitter's Bicep grammar (web-tree-sitter: WebAssembly, so nothing is
 * compiled at install time and the same parser runs on every Node.js version), and the declarations
 * the rules look at: parameters, variables, resources (nested ones with their full type), modules
 * and outputs. No Bicep CLI is needed: this machine and CI have none.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Language, Parser, type Node } from 'web-tree-sitter';

export type { Node } from 'web-tree-sitter';

export interface ParseError {
  line: number;
  column: number;
  text: string;
}

export interface ParamDeclaration {
  name: string;
  node: Node;
  /** The default value's expression, when the parameter has one. */
  defaultValue: Node | undefined;
}

export interface ResourceDeclaration {
  symbol: string;
  /** The full type, `Microsoft.KeyVault/vaults/keys` also for a child declared as `'keys'`. */
  type: string;
  /** `YYYY-MM-DD` or `YYYY-MM-DD-preview`; a nested child has its parent's. */
  apiVersion: string | undefined;
  /** Whether the declaration names its API version (a nested child may take its parent's). */
  apiVersionDeclared: boolean;
  existing: boolean;
  /** The body object (inside a loop or condition too). */
  body: Node | undefined;
  /** `for x in items: {…}`: the loop variable and the items' expression. */
  loop: { variable: string; items: Node } | undefined;
  parent: ResourceDeclaration | undefined;
  node: Node;
  line: number;
}

export interface ModuleDeclaration {
  symbol: string;
  /** The module's file, relative to the infra folder with `/` separators. */
  target: string;
  body: Node | undefined;
  node: Node;
  line: number;
}

export interface OutputDeclaration {
  name: string;
  value: Node | undefined;
  /** Decorator names, such as `secure`. */
  decorators: string[];
  node: Node;
  line: number;
}

export interface BicepFile {
  /** Relative to the infra folder, with `/` separators: `app/roles.bicep`. */
  path: string;
  text: string;
  root: Node;
  parseErrors: ParseError[];
  params: Map<string, ParamDeclaration>;
  vars: Map<string, Node>;
  resources: ResourceDeclaration[];
  modules: ModuleDeclaration[];
  outputs: OutputDeclaration[];
}

const require = createRequire(import.meta.url);
let parser: Promise<Parser> | undefined;

/** One parser per process: loading the grammar's WebAssembly takes a few milliseconds. */
function bicepParser(): Promise<Parser> {
  parser ??= (async () => {
    await Parser.init();
    const language = await Language.load(require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm'));
    return new Parser().setLanguage(language);
  })();
  return parser;
}

/** Named children without comments (the grammar's extras may sit anywhere). */
export function childrenOf(node: Node): Node[] {
  return node.namedChildren.filter(
    (child): child is Node =>
      child !== null && child.type !== 'comment' && child.type !== 'diagnostic_comment',
  );
}

export function lineOf(node: Node): number {
  return node.startPosition.row + 1;
}

/** The text of a string's literal part (content or escape sequence); undefined for an interpolation. */
export function literalPart(part: Node): string | undefined {
  if (part.type === 'string_content') return part.text;
  if (part.type === 'escape_sequence') return unescape(part.text);
  return undefined;
}

/** The value of a string literal without interpolation, or undefined. */
export function stringLiteral(node: Node | undefined): string | undefined {
  if (!node || node.type !== 'string') return undefined;
  let value = '';
  for (const part of childrenOf(node)) {
    const text = literalPart(part);
    if (text === undefined) return undefined;
    value += text;
  }
  return value;
}

function unescape(sequence: string): string {
  const simple: Record<string, string> = { "\\'": "'", '\\\\': '\\', '\\n': '\n', '\\r': '\r', '\\t': '\t' };
  if (sequence in simple) return simple[sequence] ?? '';
  if (sequence === '\\$') return '$';
  const unicode = /^\\u\{([0-9A-Fa-f]+)\}$/.exec(sequence);
  return unicode?.[1] ? String.fromCodePoint(parseInt(unicode[1], 16)) : sequence;
}

/** An object property's key: an identifier or a quoted string. */
export function propertyKey(property: Node): string | undefined {
  const key = childrenOf(property)[0];
  if (!key) return undefined;
  return key.type === 'identifier' ? key.text : stringLiteral(key);
}

/** The value of property `key` of an object node. */
export function property(object: Node | undefined, key: string): Node | undefined {
  if (!object || object.type !== 'object') return undefined;
  for (const entry of childrenOf(object)) {
    if (entry.type === 'object_property' && propertyKey(entry) === key) return childrenOf(entry)[1];
  }
  return undefined;
}

function decoratorsOf(declaration: Node): string[] {
  const previous = declaration.previousNamedSibling;
  if (!previous || previous.type !== 'decorators') return [];
  return childrenOf(previous).map((decorator) => {
    const call = childrenOf(decorator)[0];
    const callee = call?.type === 'call_expression' ? childrenOf(call)[0] : call;
    return callee?.text ?? '';
  });
}

/** The body object of a declaration's value: `{…}`, `[for …: {…}]`, `if (…) {…}` or a mix. */
function bodyOf(value: Node | undefined): {
  body: Node | undefined;
  loop: ResourceDeclaration['loop'];
} {
  if (!value) return { body: undefined, loop: undefined };
  if (value.type === 'object') return { body: value, loop: undefined };
  if (value.type === 'if_statement') return bodyOf(childrenOf(value).at(-1));
  if (value.type === 'for_statement') {
    const parts = childrenOf(value);
    const head = parts[0];
    const variable =
      head?.type === 'for_loop_parameters'
        ? childrenOf(head).find((p) => p.type === 'loop_variable')?.text
        : head?.text;
    const items = parts[1];
    const inner = bodyOf(parts.at(-1));
    return {
      body: inner.body,
      loop: variable && items ? { variable, items } : undefined,
    };
  }
  return { body: undefined, loop: undefined };
}

function collectResource(
  declaration: Node,
  parent: ResourceDeclaration | undefined,
  into: ResourceDeclaration[],
): void {
  const parts = childrenOf(declaration);
  const symbol = parts[0]?.text ?? '';
  const typeText = stringLiteral(parts[1]) ?? '';
  const [rawType = '', apiVersion] = typeText.split('@');
  const type = parent && !rawType.includes('/') ? `${parent.type}/${rawType}` : rawType;
  const existing = declaration.children.some((c) => c !== null && !c.isNamed && c.type === 'existing');
  const { body, loop } = bodyOf(parts[2]);
  const resource: ResourceDeclaration = {
    symbol,
    type,
    apiVersion: apiVersion ?? parent?.apiVersion,
    apiVersionDeclared: apiVersion !== undefined,
    existing,
    body,
    loop,
    parent,
    node: declaration,
    line: lineOf(declaration),
  };
  into.push(resource);
  // Children declared inside the body.
  for (const entry of body ? childrenOf(body) : []) {
    const nested = entry.type === 'object_property' ? childrenOf(entry)[0] : undefined;
    if (nested?.type === 'resource_declaration') collectResource(nested, resource, into);
  }
}

function parseErrorsOf(root: Node): ParseError[] {
  const errors: ParseError[] = [];
  const walk = (node: Node) => {
    if (node.type === 'ERROR' || node.isMissing) {
      errors.push({
        line: node.startPosition.row + 1,
        column: node.startPosition.column + 1,
        text: node.isMissing ? `missing ${node.type}` : node.text.slice(0, 60),
      });
      return;
    }
    for (const child of node.children) if (child) walk(child);
  };
  walk(root);
  return errors;
}

/** Parses one file; `relativePath` names it in findings and resolves its modules. */
export async function parseBicep(relativePath: string, text: string): Promise<BicepFile> {
  const tree = (await bicepParser()).parse(text);
  if (!tree) throw new Error(`tree-sitter could not parse ${relativePath}`);
  const root = tree.rootNode;
  const file: BicepFile = {
    path: relativePath,
    text,
    root,
    parseErrors: root.hasError ? parseErrorsOf(root) : [],
    params: new Map(),
    vars: new Map(),
    resources: [],
    modules: [],
    outputs: [],
  };
  for (const declaration of childrenOf(root)) {
    const parts = childrenOf(declaration);
    const name = parts[0]?.text ?? '';
    switch (declaration.type) {
      case 'parameter_declaration': {
        // param name type [= default]
        const defaultValue = parts.length > 2 ? parts.at(-1) : undefined;
        file.params.set(name, { name, node: declaration, defaultValue });
        break;
      }
      case 'variable_declaration':
        if (parts[1]) file.vars.set(name, parts.at(-1) as Node);
        break;
      case 'resource_declaration':
        collectResource(declaration, undefined, file.resources);
        break;
      case 'module_declaration': {
        const target = stringLiteral(parts[1]) ?? '';
        file.modules.push({
          symbol: name,
          target: path.posix.normalize(path.posix.join(path.posix.dirname(relativePath), target)),
          body: bodyOf(parts[2]).body,
          node: declaration,
          line: lineOf(declaration),
        });
        break;
      }
      case 'output_declaration':
        file.outputs.push({
          name,
          value: parts.at(-1),
          decorators: decoratorsOf(declaration),
          node: declaration,
          line: lineOf(declaration),
        });
        break;
      default:
        break;
    }
  }
  return file;
}

/** Every `.bicep` file under `infraDir` (any depth), parsed. */
export async function loadBicepFiles(infraDir: string): Promise<BicepFile[]> {
  const names = (readdirSync(infraDir, { recursive: true }) as string[])
    .filter((name) => name.endsWith('.bicep'))
    .map((name) => name.split(path.sep).join('/'))
    .sort();
  const files: BicepFile[] = [];
  for (const name of names)
    files.push(await parseBicep(name, readFileSync(path.join(infraDir, name), 'utf8')));
  return files;
}
