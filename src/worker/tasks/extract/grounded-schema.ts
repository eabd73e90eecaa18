import { ANNOTATIONS } from './schema-grammar.js';

/**
 * Extraction that cites its evidence. From the job's schema (the user's, or the contract schema) this derives
 * the schema the model answers in, where every value comes with the verbatim quote that states it and the
 * page of that quote:
 *
 * - a field F becomes `{"quote": string, "page": one of the document's pages, "value": F}`, or null when F
 *   accepts null (F's own null is taken out of `value`, so "no value" has one spelling, and no quote);
 * - an array field of items I becomes an array of `{"quote", "page", "value": I}`: each item is cited on its own.
 *
 * `quote` comes first on purpose: a model that has just copied the sentence derives the value from it instead
 * of inventing a value and then a quote to match. The derived schema uses only what the grammar enforces
 * (see schema-grammar.ts), so `boundedForGrammar`, `minimalJson` and `maxJsonChars` work on it as on the
 * original, and `fromGrounded` turns an answer back into plain values the original schema accepts.
 */

type Node = Record<string, unknown>;

/** Longest quote by default: a sentence or two, enough to state any field of a contract. */
export const QUOTE_MAX_CHARS = 200;

export interface GroundedField {
  name: string;
  /** `list`: an array field whose items are cited one by one; `scalar`: one value with one quote. */
  kind: 'scalar' | 'list';
  /** The model may answer null for the whole field. */
  nullable: boolean;
  /** The field's `description` in the job's schema, if any. */
  description?: string;
}

export interface GroundedPlan {
  /** The schema the model's answer is generated against. */
  schema: Record<string, unknown>;
  /** The job schema's properties, in order. */
  fields: GroundedField[];
}

export interface GroundedSchemaOptions {
  /** Pages of the document: a cited page is one of 1..pages (an enum, so the grammar cannot write 0 or 10^15). */
  pages: number;
  /** Longest quote in characters (default {@link QUOTE_MAX_CHARS}); the retry caps may shorten it further. */
  quoteMaxChars?: number;
}

/** One value of an answer with the quote and page the model gave for it. */
export interface Claim {
  field: string;
  /** JSON pointer (RFC 6901) of the value in the plain fields: "/governing_law", "/parties/2". */
  pointer: string;
  value: unknown;
  quote: string;
  citedPage: number;
}

/** An answer turned back into plain values, and what the model cited for each. */
export interface GroundedAnswer {
  /** The plain values: each cited value unwrapped, each cited list a list of its values. */
  fields: Record<string, unknown>;
  /** One per non-null value, in field order. */
  claims: Claim[];
}

/** The grounded form of a job schema whose root is an object with properties (extract checks that first). */
export function groundedSchema(schema: Record<string, unknown>, opts: GroundedSchemaOptions): GroundedPlan {
  const pages = Math.max(1, Math.floor(opts.pages));
  const quoteMax = opts.quoteMaxChars ?? QUOTE_MAX_CHARS;
  const defs = isNode(schema.$defs) ? schema.$defs : {};
  const cited = (value: unknown): Node => ({
    type: 'object',
    properties: {
      quote: {
        description: 'the words of the document that state the value, copied verbatim',
        type: 'string',
        maxLength: quoteMax,
      },
      page: { description: 'the page the quote is on', enum: Array.from({ length: pages }, (_, i) => i + 1) },
      value,
    },
    required: ['quote', 'page', 'value'],
    additionalProperties: false,
  });

  const fields: GroundedField[] = [];
  const properties: Node = {};
  for (const [name, field] of Object.entries(isNode(schema.properties) ? schema.properties : {})) {
    const description = isNode(field) && typeof field.description === 'string' ? field.description : undefined;
    const annotation = description === undefined ? {} : { description };
    const nullable = acceptsNull(field, defs);
    const value = nullable ? withoutNull(field, defs) : field;
    if (value === undefined) {
      // The field can only ever be null: nothing to cite.
      fields.push({ name, kind: 'scalar', nullable: true, description });
      properties[name] = { ...annotation, type: 'null' };
      continue;
    }
    const list = isNode(value) && value.type === 'array' && isNode(value.items) && value.prefixItems === undefined;
    let grounded: Node;
    if (list) {
      const { items, ...rest } = value;
      grounded = { ...rest, items: cited(items) };
    } else {
      grounded = cited(value);
    }
    fields.push({ name, kind: list ? 'list' : 'scalar', nullable, description });
    properties[name] = nullable
      ? { ...annotation, oneOf: [grounded, { type: 'null' }] }
      : { ...grounded, ...annotation };
  }
  const root: Node = { type: 'object', properties, required: Object.keys(properties), additionalProperties: false };
  // Values keep their $refs; they resolve against the same $defs at the new root.
  if (isNode(schema.$defs)) root.$defs = schema.$defs;
  return { schema: root, fields };
}

/** An answer in the grounded schema → plain values and claims; a string saying what is wrong when it has another shape. */
export function fromGrounded(answer: unknown, plan: GroundedPlan): GroundedAnswer | string {
  if (!isNode(answer)) return 'the answer is not a JSON object';
  const fields: Record<string, unknown> = {};
  const claims: Claim[] = [];
  for (const { name, kind, nullable } of plan.fields) {
    if (!Object.hasOwn(answer, name)) return `the answer has no "${name}"`;
    const given = answer[name];
    if (given === null && nullable) {
      fields[name] = null;
      continue;
    }
    const pointer = `/${escapePointer(name)}`;
    if (kind === 'list') {
      if (!Array.isArray(given)) return `${pointer} is not a list`;
      const values: unknown[] = [];
      for (const [i, item] of given.entries()) {
        if (!isCited(item)) return `${pointer}/${i} is not {quote, page, value}`;
        values.push(item.value);
        claims.push({
          field: name,
          pointer: `${pointer}/${i}`,
          value: item.value,
          quote: item.quote,
          citedPage: item.page,
        });
      }
      fields[name] = values;
    } else {
      if (!isCited(given)) return `${pointer} is not {quote, page, value}`;
      fields[name] = given.value;
      // A null inside a cited value (a $ref that allows null) is no value: there is nothing to ground.
      if (given.value !== null)
        claims.push({ field: name, pointer, value: given.value, quote: given.quote, citedPage: given.page });
    }
  }
  return { fields, claims };
}

function isCited(v: unknown): v is { quote: string; page: number; value: unknown } {
  return isNode(v) && typeof v.quote === 'string' && Number.isInteger(v.page) && Object.hasOwn(v, 'value');
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Whether `node` accepts null (looking through $ref, oneOf, enum, const and type lists). */
function acceptsNull(node: unknown, defs: Node, depth = 0): boolean {
  if (!isNode(node) || depth > 16) return false;
  if (typeof node.$ref === 'string') return acceptsNull(defs[node.$ref.slice('#/$defs/'.length)], defs, depth + 1);
  if ('const' in node) return node.const === null;
  if (Array.isArray(node.enum)) return node.enum.includes(null);
  if (Array.isArray(node.oneOf)) return node.oneOf.some((s) => acceptsNull(s, defs, depth + 1));
  return Array.isArray(node.type) ? node.type.includes('null') : node.type === 'null';
}

/** `node` without its null alternative; undefined when null is all it accepts. */
function withoutNull(node: unknown, defs: Node, depth = 0): unknown {
  if (!isNode(node) || depth > 16 || !acceptsNull(node, defs)) return node;
  if (typeof node.$ref === 'string') return withoutNull(defs[node.$ref.slice('#/$defs/'.length)], defs, depth + 1);
  if ('const' in node) return undefined;
  if (Array.isArray(node.enum)) {
    const values = node.enum.filter((v) => v !== null);
    return values.length > 0 ? { ...node, enum: values } : undefined;
  }
  if (Array.isArray(node.oneOf)) {
    const { oneOf, ...rest } = node;
    const branches = (oneOf as unknown[]).map((s) => withoutNull(s, defs, depth + 1)).filter((s) => s !== undefined);
    if (branches.length === 0) return undefined;
    // `{description, oneOf: [X, null]}` is the common nullable spelling: it becomes X itself.
    const onlyAnnotations = Object.keys(rest).every((k) => ANNOTATIONS.has(k));
    return branches.length === 1 && onlyAnnotations && isNode(branches[0])
      ? { ...rest, ...branches[0] }
      : { ...rest, oneOf: branches };
  }
  const types: unknown[] = (Array.isArray(node.type) ? node.type : [node.type]).filter((t) => t !== 'null');
  if (types.length === 0) return undefined;
  return { ...node, type: types.length === 1 ? types[0] : types };
}

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
