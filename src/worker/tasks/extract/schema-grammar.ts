import type { GbnfJsonObjectSchema } from 'node-llama-cpp';

/**
 * node-llama-cpp turns a subset of JSON Schema into a grammar and silently ignores the rest (an
 * unknown keyword simply isn't enforced, a schema without a type generates `null`). A keyword the
 * grammar ignores would let the model produce output the schema rejects, so such schemas are refused
 * up front, naming the keyword and where it is.
 */

type Node = Record<string, unknown>;

const ENFORCED = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'minProperties',
  'maxProperties',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'format',
  'enum',
  'const',
  'oneOf',
  '$ref',
  '$defs',
]);
/** Keywords that constrain nothing. */
export const ANNOTATIONS = new Set([
  'title',
  'description',
  'examples',
  'default',
  '$comment',
  '$schema',
  '$id',
  'deprecated',
  'readOnly',
  'writeOnly',
]);
const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null', 'object', 'array']);
const FORMATS = new Set(['date', 'time', 'date-time']);

export interface Caps {
  maxLength: number;
  maxItems: number;
}

/** Why the grammar cannot enforce `schema`, one entry per problem; empty when it can. */
export function grammarProblems(schema: unknown): string[] {
  const problems: string[] = [];
  const defs = new Set<string>();
  collectDefs(schema, defs);
  walk(schema, '#', problems, defs);
  return problems;
}

function walk(node: unknown, at: string, problems: string[], defs: Set<string>): void {
  if (!isNode(node)) {
    problems.push(`${at}: must be a schema object`);
    return;
  }
  for (const key of Object.keys(node)) {
    if (!ENFORCED.has(key) && !ANNOTATIONS.has(key)) problems.push(`${at}: "${key}" cannot be enforced by the grammar`);
  }
  const { type, format, $ref } = node;
  const types = Array.isArray(type) ? type : type === undefined ? [] : [type];
  for (const t of types)
    if (typeof t !== 'string' || !TYPES.has(t)) problems.push(`${at}: unknown type ${JSON.stringify(t)}`);
  if (types.length === 0 && !['const', 'enum', 'oneOf', '$ref'].some((k) => k in node)) {
    problems.push(`${at}: needs a "type" (or const, enum, oneOf, $ref)`);
  }
  if (format !== undefined && (type !== 'string' || typeof format !== 'string' || !FORMATS.has(format))) {
    problems.push(
      `${at}: only string formats ${[...FORMATS].join(', ')} can be enforced, not ${JSON.stringify(format)}`,
    );
  }
  if (Array.isArray(node.enum) && node.enum.length === 0) problems.push(`${at}: enum must list at least one value`);
  for (const v of [
    ...(Array.isArray(node.enum) ? (node.enum as unknown[]) : []),
    ...('const' in node ? [node.const] : []),
  ]) {
    if (v !== null && typeof v === 'object')
      problems.push(`${at}: enum/const values must be strings, numbers, booleans or null`);
  }
  if ($ref !== undefined && (typeof $ref !== 'string' || !$ref.startsWith('#/$defs/') || !defs.has($ref.slice(8)))) {
    problems.push(`${at}: $ref must point into $defs ("#/$defs/name"), got ${JSON.stringify($ref)}`);
  }
  // The grammar writes exactly the listed properties, so a required name must be one of them.
  const props = isNode(node.properties) ? node.properties : {};
  for (const name of Array.isArray(node.required) ? node.required : []) {
    if (!Object.hasOwn(props, String(name))) problems.push(`${at}: required "${String(name)}" is not in properties`);
  }
  if (node.items !== undefined && !isNode(node.items))
    problems.push(`${at}/items: must be a single schema (use prefixItems for tuples)`);
  for (const [path, child] of children(node, at)) walk(child, path, problems, defs);
}

/**
 * A copy for the grammar that the original schema still accepts everything from: type unions become
 * oneOf (the grammar drops string and array limits on unions), and every string and array gets at
 * most `caps` characters and items, so a model that rambles cannot generate forever.
 */
export function boundedForGrammar(schema: Record<string, unknown>, caps: Caps): GbnfJsonObjectSchema {
  return bound(schema, caps) as GbnfJsonObjectSchema;
}

function bound(schema: unknown, caps: Caps): unknown {
  if (!isNode(schema)) return schema;
  const node: Node = { ...schema };
  const plain = !['const', 'enum', 'oneOf', '$ref'].some((k) => k in node);
  if (plain && Array.isArray(node.type)) {
    const { type, ...rest } = node;
    return bound({ oneOf: (type as string[]).map((t) => ({ ...rest, type: t })) }, caps);
  }
  if (plain && node.type === 'string' && node.format === undefined) {
    node.maxLength = Math.max(num(node.minLength, 0), Math.min(num(node.maxLength, Infinity), caps.maxLength));
  }
  if (plain && node.type === 'array') {
    const least = Math.max(num(node.minItems, 0), Array.isArray(node.prefixItems) ? node.prefixItems.length : 0);
    node.maxItems = Math.max(least, Math.min(num(node.maxItems, Infinity), caps.maxItems));
  }
  if (
    plain &&
    node.type === 'object' &&
    node.additionalProperties !== undefined &&
    node.additionalProperties !== false
  ) {
    const least = Math.max(
      num(node.minProperties, 0),
      Object.keys(isNode(node.properties) ? node.properties : {}).length,
    );
    node.maxProperties = Math.max(least, Math.min(num(node.maxProperties, Infinity), least + caps.maxItems));
  }
  for (const key of ['items', 'additionalProperties'] as const)
    if (isNode(node[key])) node[key] = bound(node[key], caps);
  for (const key of ['prefixItems', 'oneOf'] as const) {
    if (Array.isArray(node[key])) node[key] = (node[key] as unknown[]).map((s) => bound(s, caps));
  }
  for (const key of ['properties', '$defs'] as const) {
    const map = node[key];
    if (isNode(map)) node[key] = Object.fromEntries(Object.entries(map).map(([k, s]) => [k, bound(s, caps)]));
  }
  return node;
}

/**
 * Most characters of JSON the grammar for `schema` can produce (escapes aside), counting a newline
 * and indent before each member as the grammar allows. Infinity when something is unbounded.
 */
export function maxJsonChars(schema: unknown, depth = 0, defs: Node = {}): number {
  if (!isNode(schema) || depth > 32) return Infinity;
  const scope = isNode(schema.$defs) ? { ...defs, ...schema.$defs } : defs;
  const member = 2 + 4 * (depth + 1); // newline, indent and the comma after
  if (typeof schema.$ref === 'string') return maxJsonChars(scope[schema.$ref.slice(8)], depth + 1, scope);
  if (Array.isArray(schema.oneOf)) return Math.max(...schema.oneOf.map((s) => maxJsonChars(s, depth, scope)));
  if ('const' in schema) return JSON.stringify(schema.const).length;
  if (Array.isArray(schema.enum)) return Math.max(...schema.enum.map((v) => JSON.stringify(v).length));
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  return Math.max(
    ...types.map((type) => {
      if (type === 'string') return schema.format === undefined ? 2 + num(schema.maxLength, Infinity) : 31;
      if (type === 'number') return 52;
      if (type === 'integer') return 35;
      if (type === 'boolean') return 5;
      if (type === 'null') return 4;
      if (type === 'array') {
        const prefix = Array.isArray(schema.prefixItems) ? schema.prefixItems : [];
        const rest = num(schema.maxItems, Infinity) - prefix.length;
        const items = prefix.reduce((sum: number, s) => sum + member + maxJsonChars(s, depth + 1, scope), 0);
        return 2 + member + items + (rest > 0 ? rest * (member + maxJsonChars(schema.items, depth + 1, scope)) : 0);
      }
      if (type === 'object') {
        if (schema.additionalProperties !== undefined && schema.additionalProperties !== false) return Infinity;
        const props = Object.entries(isNode(schema.properties) ? schema.properties : {});
        return props.reduce(
          (sum, [k, s]) => sum + member + JSON.stringify(k).length + 2 + maxJsonChars(s, depth + 1, scope),
          2 + member,
        );
      }
      return Infinity;
    }),
  );
}

/** The shortest value `schema` accepts, the way the grammar would write it (every property present). */
export function minimalJson(schema: unknown, depth = 0, defs: Node = {}): unknown {
  if (!isNode(schema) || depth > 32) return null;
  const scope = isNode(schema.$defs) ? { ...defs, ...schema.$defs } : defs;
  const shortest = (values: unknown[]) =>
    values.reduce((a, b) => (JSON.stringify(b).length < JSON.stringify(a).length ? b : a));
  if (typeof schema.$ref === 'string') return minimalJson(scope[schema.$ref.slice(8)], depth + 1, scope);
  if (Array.isArray(schema.oneOf)) return shortest(schema.oneOf.map((s) => minimalJson(s, depth, scope)));
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return shortest(schema.enum);
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  return shortest(
    types.map((type) => {
      if (type === 'string') {
        const formats: Record<string, string> = {
          date: '2000-01-01',
          time: '00:00:00Z',
          'date-time': '2000-01-01T00:00:00Z',
        };
        return formats[String(schema.format)] ?? 'x'.repeat(num(schema.minLength, 0));
      }
      if (type === 'number' || type === 'integer') return 0;
      if (type === 'boolean') return true;
      if (type === 'array') {
        const prefix = (Array.isArray(schema.prefixItems) ? schema.prefixItems : []).map((s) =>
          minimalJson(s, depth + 1, scope),
        );
        const more = Math.max(0, num(schema.minItems, 0) - prefix.length);
        return [...prefix, ...Array.from({ length: more }, () => minimalJson(schema.items, depth + 1, scope))];
      }
      if (type === 'object') {
        const props = Object.entries(isNode(schema.properties) ? schema.properties : {});
        return Object.fromEntries(props.map(([k, s]) => [k, minimalJson(s, depth + 1, scope)]));
      }
      return null;
    }),
  );
}

function children(node: Node, at: string): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const key of ['properties', '$defs'] as const) {
    const map = node[key];
    if (isNode(map)) for (const [k, s] of Object.entries(map)) out.push([`${at}/${key}/${k}`, s]);
  }
  for (const key of ['prefixItems', 'oneOf'] as const) {
    const list = node[key];
    if (Array.isArray(list)) list.forEach((s, i) => out.push([`${at}/${key}/${i}`, s]));
  }
  if (isNode(node.items)) out.push([`${at}/items`, node.items]);
  if (isNode(node.additionalProperties)) out.push([`${at}/additionalProperties`, node.additionalProperties]);
  return out;
}

function collectDefs(node: unknown, into: Set<string>): void {
  if (!isNode(node)) return;
  if (isNode(node.$defs)) for (const k of Object.keys(node.$defs)) into.add(k);
  for (const [, child] of children(node, '')) collectDefs(child, into);
}

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' ? v : fallback;
}
