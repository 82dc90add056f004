/**
 * Route templates as the Azure Functions host matches them: ASP.NET Core route template syntax
 * (`{param}`, `{param?}`, `{param=default}`, `{param:constraint(arg)}`, `{*catchAll}`), case-insensitive
 * literals, and the HTTP extension's route order.
 *
 * Hand-written because no maintained JavaScript library implements ASP.NET Core templates and inline
 * constraints (path-to-regexp and friends use Express syntax). What is covered:
 * - parsing with `{{`/`}}` escapes, optional and default values, catch-all (`*` and `**`), complex segments
 *   such as `{name}.{ext?}` (matched with a regular expression, greedy from the left, which gives the
 *   right-to-left result ASP.NET gives for the usual `name.ext` shapes);
 * - the inline constraints of ASP.NET Core's DefaultInlineConstraintResolver (int, long, bool, datetime,
 *   decimal, double, float, guid, alpha, minlength, maxlength, length, min, max, range, regex, required);
 *   an unknown constraint is an error at start-up, as in the real host;
 * - order: the WebJobs HTTP extension sorts routes before matching (WebJobsRouteBuilder.Build): segment
 *   by segment, a literal before a parameter, a parameter with more constraints before one with fewer,
 *   literals in ordinal case-insensitive order; a longer template before its prefix.
 */

export interface RouteConstraint {
  name: string;
  args: string[];
  test(value: string): boolean;
}

export type RoutePart =
  | { kind: 'literal'; text: string }
  | {
      kind: 'parameter';
      name: string;
      optional: boolean;
      catchAll: boolean;
      defaultValue: string | undefined;
      constraints: RouteConstraint[];
    };

export interface RouteTemplate {
  /** The template as written (after the prefix was joined). */
  text: string;
  segments: RoutePart[][];
}

export class RouteTemplateError extends Error {
  constructor(template: string, problem: string) {
    super(`The route template '${template}' is invalid: ${problem}`);
    this.name = 'RouteTemplateError';
  }
}

const INT32 = { min: -2_147_483_648n, max: 2_147_483_647n };
const INT64 = { min: -9_223_372_036_854_775_808n, max: 9_223_372_036_854_775_807n };

function parseInteger(value: string, range: { min: bigint; max: bigint }): bigint | undefined {
  if (!/^\s*[+-]?\d+\s*$/.test(value)) return undefined;
  const n = BigInt(value.trim());
  return n >= range.min && n <= range.max ? n : undefined;
}

function numberArg(template: string, constraint: string, arg: string | undefined): bigint {
  if (arg === undefined || !/^[+-]?\d+$/.test(arg.trim())) {
    throw new RouteTemplateError(template, `constraint '${constraint}' needs integer arguments`);
  }
  return BigInt(arg.trim());
}

const FLOAT = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;
const GUID =
  /^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}|\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\))$/i;

function makeConstraint(template: string, name: string, args: string[]): RouteConstraint {
  const lower = name.toLowerCase();
  const n = (i: number): bigint => numberArg(template, name, args[i]);
  const arity = (count: number): void => {
    if (args.length !== count) {
      throw new RouteTemplateError(template, `constraint '${name}' takes ${count} argument(s)`);
    }
  };
  let test: (value: string) => boolean;
  switch (lower) {
    case 'int':
      arity(0);
      test = (v) => parseInteger(v, INT32) !== undefined;
      break;
    case 'long':
      arity(0);
      test = (v) => parseInteger(v, INT64) !== undefined;
      break;
    case 'bool':
      arity(0);
      test = (v) => /^\s*(true|false)\s*$/i.test(v);
      break;
    case 'datetime':
      arity(0);
      test = (v) => v.trim() !== '' && !Number.isNaN(Date.parse(v));
      break;
    case 'decimal':
      arity(0);
      test = (v) => /^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$/.test(v);
      break;
    case 'double':
      arity(0);
      test = (v) => FLOAT.test(v) && Number.isFinite(Number(v));
      break;
    case 'float':
      arity(0);
      test = (v) => FLOAT.test(v) && Math.abs(Number(v)) <= 3.4028235e38;
      break;
    case 'guid':
      arity(0);
      test = (v) => GUID.test(v);
      break;
    case 'alpha':
      arity(0);
      test = (v) => /^[a-z]*$/i.test(v);
      break;
    case 'required':
      arity(0);
      test = (v) => v !== '';
      break;
    case 'minlength': {
      arity(1);
      const min = n(0);
      test = (v) => BigInt(v.length) >= min;
      break;
    }
    case 'maxlength': {
      arity(1);
      const max = n(0);
      test = (v) => BigInt(v.length) <= max;
      break;
    }
    case 'length': {
      if (args.length === 1) {
        const exact = n(0);
        test = (v) => BigInt(v.length) === exact;
      } else {
        arity(2);
        const [min, max] = [n(0), n(1)];
        test = (v) => BigInt(v.length) >= min && BigInt(v.length) <= max;
      }
      break;
    }
    case 'min': {
      arity(1);
      const min = n(0);
      test = (v) => (parseInteger(v, INT64) ?? min - 1n) >= min;
      break;
    }
    case 'max': {
      arity(1);
      const max = n(0);
      test = (v) => (parseInteger(v, INT64) ?? max + 1n) <= max;
      break;
    }
    case 'range': {
      arity(2);
      const [min, max] = [n(0), n(1)];
      test = (v) => {
        const x = parseInteger(v, INT64);
        return x !== undefined && x >= min && x <= max;
      };
      break;
    }
    case 'regex': {
      // ASP.NET Core's RegexRouteConstraint: case-insensitive, culture-invariant and NOT anchored.
      const source = args.join(',');
      let re: RegExp;
      try {
        re = new RegExp(source, 'i');
      } catch {
        throw new RouteTemplateError(
          template,
          `constraint 'regex(${source})' is not a valid regular expression`,
        );
      }
      test = (v) => re.test(v);
      break;
    }
    default:
      throw new RouteTemplateError(
        template,
        `the constraint entry '${name}' could not be resolved (known: int, long, bool, datetime, decimal, ` +
          'double, float, guid, alpha, required, minlength, maxlength, length, min, max, range, regex)',
      );
  }
  return { name: lower, args, test };
}

/** Splits the text between `{` and `}` into name, constraints, default and flags. */
function parseParameter(template: string, body: string): Extract<RoutePart, { kind: 'parameter' }> {
  let rest = body;
  let catchAll = false;
  if (rest.startsWith('**')) {
    catchAll = true;
    rest = rest.slice(2);
  } else if (rest.startsWith('*')) {
    catchAll = true;
    rest = rest.slice(1);
  }
  const nameMatch = /^[^:=?]+/.exec(rest);
  const name = nameMatch?.[0] ?? '';
  if (!name || /[{}/*?]/.test(name))
    throw new RouteTemplateError(template, `bad parameter name in '{${body}}'`);
  rest = rest.slice(name.length);

  const constraints: RouteConstraint[] = [];
  while (rest.startsWith(':')) {
    rest = rest.slice(1);
    const cname = /^[A-Za-z]+/.exec(rest)?.[0];
    if (!cname) throw new RouteTemplateError(template, `empty constraint in '{${body}}'`);
    rest = rest.slice(cname.length);
    let args: string[] = [];
    if (rest.startsWith('(')) {
      // The argument runs to the ')' that ends the constraint: the last ')' before the next ':', '=',
      // '?' or the end (regular expressions may contain parentheses themselves).
      let end = -1;
      for (let i = 1; i < rest.length; i++) {
        if (rest[i] === ')' && (i === rest.length - 1 || /[:=?]/.test(rest[i + 1] ?? ''))) {
          end = i;
          break;
        }
      }
      if (end < 0) throw new RouteTemplateError(template, `unclosed '(' in '{${body}}'`);
      const inner = rest.slice(1, end);
      args = cname.toLowerCase() === 'regex' ? [inner] : inner.split(',').map((a) => a.trim());
      rest = rest.slice(end + 1);
    }
    constraints.push(makeConstraint(template, cname, args));
  }

  let optional = false;
  let defaultValue: string | undefined;
  if (rest.startsWith('=')) {
    defaultValue = rest.slice(1);
    rest = '';
    if (defaultValue.endsWith('?'))
      throw new RouteTemplateError(template, `'{${body}}' is both optional and has a default`);
  } else if (rest === '?') {
    optional = true;
    rest = '';
  }
  if (rest !== '') throw new RouteTemplateError(template, `unexpected '${rest}' in '{${body}}'`);
  if (catchAll && optional)
    throw new RouteTemplateError(template, `a catch-all parameter cannot be marked optional`);
  return { kind: 'parameter', name, optional, catchAll, defaultValue, constraints };
}

function parseSegment(template: string, text: string): RoutePart[] {
  const parts: RoutePart[] = [];
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' && text[i + 1] === '{') {
      literal += '{';
      i++;
    } else if (c === '}' && text[i + 1] === '}') {
      literal += '}';
      i++;
    } else if (c === '{') {
      let body = '';
      let j = i + 1;
      for (; j < text.length; j++) {
        if (text[j] === '}' && text[j + 1] === '}') {
          body += '}';
          j++;
        } else if (text[j] === '{' && text[j + 1] === '{') {
          body += '{';
          j++;
        } else if (text[j] === '}') break;
        else body += text[j];
      }
      if (j >= text.length) throw new RouteTemplateError(template, `unclosed '{' in segment '${text}'`);
      if (literal) parts.push({ kind: 'literal', text: literal });
      literal = '';
      const param = parseParameter(template, body);
      const previous = parts.at(-1);
      if (previous?.kind === 'parameter') {
        throw new RouteTemplateError(template, `two parameters must be separated by a literal in '${text}'`);
      }
      parts.push(param);
      i = j;
    } else if (c === '}') {
      throw new RouteTemplateError(template, `unmatched '}' in segment '${text}'`);
    } else {
      literal += c;
    }
  }
  if (literal) parts.push({ kind: 'literal', text: literal });
  if (parts.length > 1) {
    for (const [index, part] of parts.entries()) {
      if (part.kind !== 'parameter') continue;
      if (part.catchAll)
        throw new RouteTemplateError(template, `a catch-all parameter must be a whole segment`);
      if (part.optional) {
        const last = index === parts.length - 1;
        const afterDot =
          parts[index - 1]?.kind === 'literal' && (parts[index - 1] as { text: string }).text.endsWith('.');
        if (!last || !afterDot) {
          throw new RouteTemplateError(
            template,
            `in a complex segment an optional parameter must be last, after '.'`,
          );
        }
      }
    }
  }
  return parts;
}

export function parseRouteTemplate(template: string): RouteTemplate {
  const text = template.replace(/^~?\/+/, '');
  if (text.includes('?') && !/\{[^}]*\?[^}]*\}/.test(text)) {
    throw new RouteTemplateError(template, `'?' is only allowed inside a parameter`);
  }
  const rawSegments = text === '' ? [] : splitSegments(template, text);
  const segments = rawSegments.map((s) => {
    if (s === '') throw new RouteTemplateError(template, 'empty segment (two consecutive slashes)');
    return parseSegment(template, s);
  });
  const names = new Set<string>();
  for (const [i, segment] of segments.entries()) {
    for (const part of segment) {
      if (part.kind !== 'parameter') continue;
      const key = part.name.toLowerCase();
      if (names.has(key)) throw new RouteTemplateError(template, `parameter '${part.name}' appears twice`);
      names.add(key);
      if (part.catchAll && i !== segments.length - 1) {
        throw new RouteTemplateError(template, `a catch-all parameter must be the last segment`);
      }
    }
  }
  // An optional segment may only be followed by optional segments (ASP.NET's rule).
  let sawOptional = false;
  for (const segment of segments) {
    const single = segment.length === 1 ? segment[0] : undefined;
    const optional =
      single?.kind === 'parameter' &&
      (single.optional || single.catchAll || single.defaultValue !== undefined);
    if (sawOptional && !optional) {
      throw new RouteTemplateError(template, 'an optional parameter must be at the end of the template');
    }
    if (single?.kind === 'parameter' && single.optional) sawOptional = true;
  }
  return { text, segments };
}

/** Splits on '/' outside braces (a regex constraint may contain a slash). */
function splitSegments(template: string, text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if ((c === '{' || c === '}') && text[i + 1] === c) {
      current += c + c;
      i++;
      continue;
    }
    if (c === '{') depth++;
    if (c === '}') depth = Math.max(0, depth - 1);
    if (c === '/' && depth === 0) {
      out.push(current);
      current = '';
    } else current += c;
  }
  if (depth !== 0) throw new RouteTemplateError(template, "unbalanced '{'");
  out.push(current);
  // A trailing slash in a template is ignored, as ASP.NET does.
  if (out.length > 1 && out.at(-1) === '') out.pop();
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * What is wrong with a request path's percent-encoding, or undefined when it decodes: the first `%`
 * without two hexadecimal digits after it, or the first run of escapes whose bytes are not UTF-8.
 */
export function percentEncodingProblem(path: string): string | undefined {
  for (const m of path.matchAll(/(?:%[0-9A-Fa-f]{2})+|%/g)) {
    const text = m[0];
    if (text === '%') {
      return `'${path.slice(m.index, m.index + 3)}' at offset ${m.index} is not a '%' followed by two hexadecimal digits`;
    }
    if (decode(text) === undefined) {
      return `'${text}' at offset ${m.index} does not decode to UTF-8`;
    }
  }
  return undefined;
}

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function satisfies(part: Extract<RoutePart, { kind: 'parameter' }>, value: string): boolean {
  return part.constraints.every((c) => c.test(value));
}

/**
 * Matches a request path (without query, still percent-encoded) against a template. Returns the route
 * values (decoded), including defaults, or undefined.
 */
export function matchRoute(route: RouteTemplate, path: string): Record<string, string> | undefined {
  let trimmed = path.replace(/^\/+/, '');
  if (trimmed.endsWith('/')) trimmed = trimmed.slice(0, -1);
  const requestSegments = trimmed === '' ? [] : trimmed.split('/');
  const values: Record<string, string> = {};

  for (const [i, segment] of route.segments.entries()) {
    const first = segment[0];
    if (segment.length === 1 && first?.kind === 'parameter' && first.catchAll) {
      const rest = requestSegments.slice(i);
      if (rest.length === 0) {
        if (first.defaultValue !== undefined) values[first.name] = first.defaultValue;
      } else {
        const value = decode(rest.join('/'));
        if (value === undefined || !satisfies(first, value)) return undefined;
        values[first.name] = value;
      }
      return values;
    }

    const raw = requestSegments[i];
    if (raw === undefined) {
      // Missing segment: fine only for an optional parameter or one with a default.
      if (segment.length !== 1 || first?.kind !== 'parameter') return undefined;
      if (first.defaultValue !== undefined) values[first.name] = first.defaultValue;
      else if (!first.optional) return undefined;
      continue;
    }
    const text = decode(raw);
    if (text === undefined || text === '') return undefined;

    if (segment.length === 1 && first) {
      if (first.kind === 'literal') {
        if (first.text.toLowerCase() !== text.toLowerCase()) return undefined;
      } else {
        if (!satisfies(first, text)) return undefined;
        values[first.name] = text;
      }
      continue;
    }

    // Complex segment, e.g. `{name}.{ext?}` or `v{version:int}`. ASP.NET matches these from the right,
    // taking the last occurrence of each literal: so a parameter after a literal never contains that
    // literal, and the leftmost parameter takes what remains (lazy, so that an optional tail can match).
    let source = '^';
    const params: Extract<RoutePart, { kind: 'parameter' }>[] = [];
    for (const [index, part] of segment.entries()) {
      const previous = segment[index - 1];
      if (part.kind === 'literal') {
        const next = segment[index + 1];
        if (next?.kind === 'parameter' && next.optional) continue; // emitted with the parameter
        source += escapeRegExp(part.text);
        continue;
      }
      params.push(part);
      const value = previous?.kind === 'literal' ? `((?:(?!${escapeRegExp(previous.text)}).)+)` : '(.+?)';
      source +=
        part.optional && previous?.kind === 'literal' ? `(?:${escapeRegExp(previous.text)}${value})?` : value;
    }
    const m = new RegExp(source + '$', 'i').exec(text);
    if (!m) return undefined;
    for (const [index, part] of params.entries()) {
      const value = m[index + 1];
      if (value === undefined) {
        if (part.defaultValue !== undefined) values[part.name] = part.defaultValue;
        continue;
      }
      if (!satisfies(part, value)) return undefined;
      values[part.name] = value;
    }
  }
  return requestSegments.length > route.segments.length ? undefined : values;
}

/**
 * The WebJobs HTTP extension's route order (WebJobsRouteBuilder.RouteComparison): negative when `x` must
 * be tried before `y`.
 */
export function compareRoutes(x: RouteTemplate, y: RouteTemplate): number {
  for (let i = 0; i < x.segments.length; i++) {
    if (y.segments.length <= i) return -1;
    const xp = x.segments[i]?.[0];
    const yp = y.segments[i]?.[0];
    if (!xp || !yp) continue;
    if (xp.kind === 'literal' && yp.kind === 'parameter') return -1;
    if (xp.kind === 'parameter' && yp.kind === 'literal') return 1;
    if (xp.kind === 'parameter' && yp.kind === 'parameter') {
      if (xp.constraints.length !== yp.constraints.length)
        return yp.constraints.length - xp.constraints.length;
    } else if (xp.kind === 'literal' && yp.kind === 'literal') {
      const a = xp.text.toLowerCase();
      const b = yp.text.toLowerCase();
      if (a !== b) return a < b ? -1 : 1;
    }
  }
  return y.segments.length > x.segments.length ? 1 : 0;
}

/** Joins the host's route prefix and a function's route, as the HTTP extension builds the template. */
export function joinRoutePrefix(prefix: string, route: string): string {
  const p = prefix.replace(/^\/+|\/+$/g, '');
  const r = route.replace(/^\/+/, '');
  return p ? `${p}/${r}` : r;
}
