/**
 * The Bicep files of one infra folder, and the little evaluation the rules need: what a property's
 * value is when it can be known without deploying (literals, variables, parameter defaults, values a
 * module's caller passes, string interpolation, arithmetic, comparisons, ternaries, `replace`). Anything
 * that depends on a deployment (a resource's properties, `uniqueString`, …) is `unknown`, and each
 * rule decides what unknown means for it.
 */
import {
  childrenOf,
  literalPart,
  property,
  propertyKey,
  stringLiteral,
  type BicepFile,
  type Node,
  type ResourceDeclaration,
} from './bicep-file.js';

export type Scalar = string | number | boolean | null;

export type Value =
  | { kind: 'literal'; value: Scalar }
  | { kind: 'object'; entries: Map<string, Located> }
  | { kind: 'array'; items: Located[] }
  | { kind: 'unknown'; text: string };

/** A node and the file it is in: evaluating it may need that file's declarations. */
export interface Located {
  node: Node;
  file: BicepFile;
}

/** A resource with the file it is declared in. */
export interface LocatedResource extends ResourceDeclaration {
  file: BicepFile;
}

const MAX_DEPTH = 32;

function unknown(node: Node): Value {
  return { kind: 'unknown', text: node.text };
}

export class BicepProject {
  readonly files: readonly BicepFile[];

  constructor(files: readonly BicepFile[]) {
    this.files = files;
  }

  /** Every resource of every file, `existing` ones included. */
  resources(type?: string): LocatedResource[] {
    const wanted = type?.toLowerCase();
    return this.files.flatMap((file) =>
      file.resources
        .filter((r) => wanted === undefined || r.type.toLowerCase() === wanted)
        .map((r) => ({ ...r, file })),
    );
  }

  /** The node at a dotted path (`properties.siteConfig.appSettings`) of a resource's body. */
  at(resource: LocatedResource, dottedPath: string): Node | undefined {
    let node: Node | undefined = resource.body;
    for (const key of dottedPath.split('.')) {
      node = this.objectNode(node, resource.file, key);
      if (!node) return undefined;
    }
    return node;
  }

  /** Property `key` of an object node, following a variable that holds the object. */
  private objectNode(node: Node | undefined, file: BicepFile, key: string): Node | undefined {
    if (!node) return undefined;
    if (node.type === 'object') return property(node, key);
    if (node.type === 'identifier' && file.vars.has(node.text)) {
      return this.objectNode(file.vars.get(node.text), file, key);
    }
    return undefined;
  }

  /** The value at a dotted path of a resource's body, evaluated. */
  valueAt(resource: LocatedResource, dottedPath: string): Value | undefined {
    const node = this.at(resource, dottedPath);
    return node ? this.evaluate(node, resource.file) : undefined;
  }

  /** The literal at a dotted path, or undefined when absent or not knowable here. */
  literalAt(resource: LocatedResource, dottedPath: string): Scalar | undefined {
    const value = this.valueAt(resource, dottedPath);
    return value?.kind === 'literal' ? value.value : undefined;
  }

  /** The names a resource gets: one, or one per item of a loop over known items. */
  namesOf(resource: LocatedResource): (string | undefined)[] {
    const nameNode = resource.body ? property(resource.body, 'name') : undefined;
    if (!nameNode) return [undefined];
    if (resource.loop && nameNode.type === 'identifier' && nameNode.text === resource.loop.variable) {
      const items = this.evaluate(resource.loop.items, resource.file);
      if (items.kind !== 'array') return [undefined];
      return items.items.map((item) => {
        const value = this.evaluate(item.node, item.file);
        return value.kind === 'literal' && typeof value.value === 'string' ? value.value : undefined;
      });
    }
    const value = this.evaluate(nameNode, resource.file);
    return [value.kind === 'literal' && typeof value.value === 'string' ? value.value : undefined];
  }

  /** The modules (in other files) that deploy `file`. */
  callersOf(file: BicepFile): { file: BicepFile; body: Node | undefined }[] {
    return this.files.flatMap((caller) =>
      caller.modules.filter((m) => m.target === file.path).map((m) => ({ file: caller, body: m.body })),
    );
  }

  evaluate(node: Node, file: BicepFile, depth = 0): Value {
    if (depth > MAX_DEPTH) return unknown(node);
    const next = (n: Node | undefined, f: BicepFile = file): Value =>
      n ? this.evaluate(n, f, depth + 1) : { kind: 'unknown', text: '' };
    switch (node.type) {
      case 'string':
        return this.evaluateString(node, file, depth);
      case 'number':
        return { kind: 'literal', value: Number(node.text) };
      case 'boolean':
        return { kind: 'literal', value: node.text === 'true' };
      case 'null':
        return { kind: 'literal', value: null };
      case 'object': {
        const entries = new Map<string, Located>();
        for (const entry of childrenOf(node)) {
          const key = entry.type === 'object_property' ? propertyKey(entry) : undefined;
          const value = childrenOf(entry)[1];
          if (key !== undefined && value) entries.set(key, { node: value, file });
        }
        return { kind: 'object', entries };
      }
      case 'array':
        return { kind: 'array', items: childrenOf(node).map((item) => ({ node: item, file })) };
      case 'parenthesized_expression':
        return next(childrenOf(node)[0]);
      case 'identifier':
        return this.evaluateIdentifier(node, file, depth);
      case 'member_expression': {
        const [objectNode, propertyNode] = childrenOf(node);
        const reference = this.evaluateReference(objectNode, propertyNode, file, depth);
        if (reference) return reference;
        const object = next(objectNode);
        if (object.kind !== 'object' || !propertyNode) return unknown(node);
        const entry = object.entries.get(propertyNode.text);
        return entry ? this.evaluate(entry.node, entry.file, depth + 1) : unknown(node);
      }
      case 'ternary_expression': {
        const [condition, whenTrue, whenFalse] = childrenOf(node);
        const test = next(condition);
        if (test.kind !== 'literal' || typeof test.value !== 'boolean') return unknown(node);
        return next(test.value ? whenTrue : whenFalse);
      }
      case 'unary_expression': {
        const operand = next(childrenOf(node)[0]);
        if (operand.kind !== 'literal') return unknown(node);
        if (node.text.startsWith('!') && typeof operand.value === 'boolean')
          return { kind: 'literal', value: !operand.value };
        if (node.text.startsWith('-') && typeof operand.value === 'number')
          return { kind: 'literal', value: -operand.value };
        return unknown(node);
      }
      case 'binary_expression':
        return this.evaluateBinary(node, file, depth);
      case 'call_expression':
        return this.evaluateCall(node, file, depth);
      default:
        return unknown(node);
    }
  }

  private evaluateString(node: Node, file: BicepFile, depth: number): Value {
    const literal = stringLiteral(node);
    if (literal !== undefined) return { kind: 'literal', value: literal };
    let text = '';
    for (const part of childrenOf(node)) {
      if (part.type === 'interpolation') {
        const inner = childrenOf(part)[0];
        const value = inner ? this.evaluate(inner, file, depth + 1) : undefined;
        if (value?.kind !== 'literal') return unknown(node);
        text += String(value.value);
      } else {
        text += literalPart(part) ?? part.text;
      }
    }
    return { kind: 'literal', value: text };
  }

  private evaluateIdentifier(node: Node, file: BicepFile, depth: number): Value {
    const name = node.text;
    const variable = file.vars.get(name);
    if (variable) return this.evaluate(variable, file, depth + 1);
    const param = file.params.get(name);
    if (!param) return unknown(node);
    // A module parameter is what its callers pass, else its default.
    const passed = this.callersOf(file).map((caller) => {
      const params = caller.body ? property(caller.body, 'params') : undefined;
      const argument = params ? property(params, name) : undefined;
      if (argument) return this.evaluate(argument, caller.file, depth + 1);
      return param.defaultValue ? this.evaluate(param.defaultValue, file, depth + 1) : unknown(node);
    });
    if (passed.length === 0) {
      return param.defaultValue ? this.evaluate(param.defaultValue, file, depth + 1) : unknown(node);
    }
    const first = passed[0];
    if (first?.kind === 'literal' && passed.every((v) => v.kind === 'literal' && v.value === first.value)) {
      return first;
    }
    return passed.length === 1 && first ? first : unknown(node);
  }

  /**
   * `module.outputs.x` (the module file's output x) and `resource.name` (the name in its body): the
   * two references between declarations that are known before deployment.
   */
  private evaluateReference(
    objectNode: Node | undefined,
    propertyNode: Node | undefined,
    file: BicepFile,
    depth: number,
  ): Value | undefined {
    if (!objectNode || !propertyNode) return undefined;
    if (objectNode.type === 'identifier' && propertyNode.text === 'name') {
      const resource = file.resources.find((r) => r.symbol === objectNode.text && !r.loop);
      const name = resource?.body ? property(resource.body, 'name') : undefined;
      return name ? this.evaluate(name, file, depth + 1) : undefined;
    }
    if (objectNode.type !== 'member_expression') return undefined;
    const [moduleNode, outputsNode] = childrenOf(objectNode);
    if (moduleNode?.type !== 'identifier' || outputsNode?.text !== 'outputs') return undefined;
    const module = file.modules.find((m) => m.symbol === moduleNode.text);
    const target = module ? this.files.find((f) => f.path === module.target) : undefined;
    const output = target?.outputs.find((o) => o.name === propertyNode.text);
    return output?.value && target ? this.evaluate(output.value, target, depth + 1) : undefined;
  }

  private evaluateBinary(node: Node, file: BicepFile, depth: number): Value {
    const [leftNode, rightNode] = childrenOf(node);
    const operator = node.children.find((c) => c !== null && !c.isNamed)?.type;
    if (!leftNode || !rightNode || !operator) return unknown(node);
    const left = this.evaluate(leftNode, file, depth + 1);
    const right = this.evaluate(rightNode, file, depth + 1);
    if (left.kind !== 'literal' || right.kind !== 'literal') return unknown(node);
    const a = left.value;
    const b = right.value;
    const fold = (x: Scalar, y: Scalar) =>
      typeof x === 'string' && typeof y === 'string' ? x.toLowerCase() : x;
    switch (operator) {
      case '==':
        return { kind: 'literal', value: a === b };
      case '!=':
        return { kind: 'literal', value: a !== b };
      case '=~':
        return { kind: 'literal', value: fold(a, b) === fold(b, a) };
      case '&&':
        return typeof a === 'boolean' && typeof b === 'boolean'
          ? { kind: 'literal', value: a && b }
          : unknown(node);
      case '||':
        return typeof a === 'boolean' && typeof b === 'boolean'
          ? { kind: 'literal', value: a || b }
          : unknown(node);
      default:
        break;
    }
    if (typeof a !== 'number' || typeof b !== 'number') return unknown(node);
    const arithmetic: Record<string, (x: number, y: number) => number> = {
      '+': (x, y) => x + y,
      '-': (x, y) => x - y,
      '*': (x, y) => x * y,
      '/': (x, y) => Math.trunc(x / y),
      '%': (x, y) => x % y,
    };
    const apply = arithmetic[operator];
    return apply ? { kind: 'literal', value: apply(a, b) } : unknown(node);
  }

  private evaluateCall(node: Node, file: BicepFile, depth: number): Value {
    const [callee, argumentList] = childrenOf(node);
    const args = argumentList ? childrenOf(argumentList) : [];
    const values = args.map((a) => this.evaluate(a, file, depth + 1));
    const strings = values.map((v) =>
      v.kind === 'literal' && typeof v.value === 'string' ? v.value : undefined,
    );
    switch (callee?.text) {
      case 'replace':
        if (strings.length === 3 && strings.every((s) => s !== undefined)) {
          const [text, find, replacement] = strings as string[];
          return {
            kind: 'literal',
            value: (text as string).replaceAll(find as string, replacement as string),
          };
        }
        return unknown(node);
      case 'toLower':
        return strings[0] !== undefined
          ? { kind: 'literal', value: strings[0].toLowerCase() }
          : unknown(node);
      case 'toUpper':
        return strings[0] !== undefined
          ? { kind: 'literal', value: strings[0].toUpperCase() }
          : unknown(node);
      case 'concat':
        return strings.length > 0 && strings.every((s) => s !== undefined)
          ? { kind: 'literal', value: strings.join('') }
          : unknown(node);
      default:
        return unknown(node);
    }
  }
}
