import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { DocumentText } from '../../src/worker/text/document-text.js';
import { checkQuotes } from '../../src/worker/tasks/extract/check-quotes.js';
import { CONTRACT_SCHEMA } from '../../src/worker/tasks/extract/contract-schema.js';
import {
  fromGrounded,
  groundedSchema,
  QUOTE_MAX_CHARS,
  type GroundedAnswer,
} from '../../src/worker/tasks/extract/grounded-schema.js';
import {
  boundedForGrammar,
  grammarProblems,
  maxJsonChars,
  minimalJson,
} from '../../src/worker/tasks/extract/schema-grammar.js';

const ajv = () => new Ajv2020({ strict: false, allErrors: true });
const cite = (value: unknown, quote = 'some quoted words', page = 1) => ({ quote, page, value });
/** What `node[key0][key1]…` holds; undefined where the path leaves the schema. */
function at(node: unknown, ...keys: (string | number)[]): unknown {
  for (const key of keys)
    node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
  return node;
}

const CUSTOM = {
  type: 'object',
  properties: {
    title: { type: 'string', maxLength: 30, description: 'the title' },
    boxes: { type: 'integer' },
    names: { type: ['array', 'null'], items: { type: 'string', maxLength: 12 }, maxItems: 2 },
    kind: { enum: ['sale', 'lease', null] },
    'a/b~c': { $ref: '#/$defs/maybeText' },
    nothing: { type: 'null' },
  },
  required: ['title', 'boxes', 'names', 'kind', 'a/b~c', 'nothing'],
  $defs: { maybeText: { oneOf: [{ type: 'string', maxLength: 10 }, { type: 'null' }] } },
};

describe('groundedSchema', () => {
  it('wraps each contract field as {quote, page, value} or null, and each party as its own citation', () => {
    const plan = groundedSchema(CONTRACT_SCHEMA, { pages: 3 });
    expect(plan.fields.map((f) => [f.name, f.kind, f.nullable])).toEqual(
      Object.keys(CONTRACT_SCHEMA.properties).map((k) => [k, k === 'parties' ? 'list' : 'scalar', k !== 'parties']),
    );
    const props = plan.schema.properties as Record<string, unknown>;
    const anyText: unknown = expect.any(String);
    const cited = {
      type: 'object',
      properties: {
        quote: { description: anyText, type: 'string', maxLength: QUOTE_MAX_CHARS },
        page: { description: anyText, enum: [1, 2, 3] },
        value: { description: 'the law that governs the agreement', type: 'string', minLength: 1, maxLength: 120 },
      },
      required: ['quote', 'page', 'value'],
      additionalProperties: false,
    };
    // The null moves out of the value: "no value" is the field's null, never a quote for null.
    expect(props.governing_law).toEqual({
      description: 'the law that governs the agreement',
      oneOf: [cited, { type: 'null' }],
    });
    expect(props.parties).toMatchObject({
      type: 'array',
      maxItems: 8,
      items: { properties: { value: { type: 'string', maxLength: 120 } } },
    });
    expect(plan.schema).toMatchObject({
      type: 'object',
      required: Object.keys(CONTRACT_SCHEMA.properties),
      additionalProperties: false,
    });
    expect(grammarProblems(plan.schema)).toEqual([]);
  });

  it('handles type lists, enums with null, $refs and null-only fields of a user schema, and stays grammar-friendly', () => {
    expect(grammarProblems(CUSTOM)).toEqual([]);
    const plan = groundedSchema(CUSTOM, { pages: 1 });
    expect(grammarProblems(plan.schema)).toEqual([]);
    const props = plan.schema.properties;
    expect(at(props, 'title')).toMatchObject({
      type: 'object',
      description: 'the title',
      properties: { value: { type: 'string', maxLength: 30 } },
    });
    expect(at(props, 'boxes', 'properties', 'value')).toEqual({ type: 'integer' });
    expect(at(props, 'names', 'oneOf', 0)).toMatchObject({
      type: 'array',
      maxItems: 2,
      items: { properties: { value: { type: 'string' } } },
    });
    expect(at(props, 'kind', 'oneOf', 0, 'properties', 'value')).toEqual({ enum: ['sale', 'lease'] });
    expect(at(props, 'a/b~c', 'oneOf', 0, 'properties', 'value')).toEqual({ type: 'string', maxLength: 10 });
    expect(at(props, 'nothing')).toEqual({ type: 'null' });
    expect(plan.schema.$defs).toBe(CUSTOM.$defs);
    expect(plan.fields.find((f) => f.name === 'names')).toMatchObject({ kind: 'list', nullable: true });
  });

  it('keeps the retry caps working: bounded copies shrink quotes too, and always have a finite longest JSON', () => {
    const plan = groundedSchema(CONTRACT_SCHEMA, { pages: 120 });
    const loose = maxJsonChars(boundedForGrammar(plan.schema, { maxLength: 300, maxItems: 16 }));
    const tight = maxJsonChars(boundedForGrammar(plan.schema, { maxLength: 6, maxItems: 1 }));
    expect(Number.isFinite(loose)).toBe(true);
    expect(tight).toBeLessThan(loose / 4);
    const bounded = boundedForGrammar(plan.schema, { maxLength: 6, maxItems: 1 });
    expect(at(bounded, 'properties', 'governing_law', 'oneOf', 0, 'properties', 'quote', 'maxLength')).toBe(6);
    expect(at(bounded, 'properties', 'parties', 'maxItems')).toBe(1);
  });
});

describe('fromGrounded', () => {
  it('turns the shortest grounded answer into fields the original schema accepts', () => {
    for (const schema of [CONTRACT_SCHEMA, CUSTOM]) {
      const plan = groundedSchema(schema, { pages: 2 });
      const answer = fromGrounded(minimalJson(plan.schema), plan) as GroundedAnswer;
      expect(typeof answer).toBe('object');
      const validate = ajv().compile(schema);
      expect(validate(answer.fields), JSON.stringify(validate.errors)).toBe(true);
    }
  });

  it('unwraps values and lists, one claim per non-null value with an escaped JSON pointer', () => {
    const plan = groundedSchema(CUSTOM, { pages: 4 });
    const answer = fromGrounded(
      {
        title: cite('Supply Agreement', 'SUPPLY AGREEMENT', 1),
        boxes: cite(12, 'twelve (12) boxes', 3),
        names: [cite('Acme', 'Acme, Inc.', 1), cite('Widget', 'Widget LLC', 4)],
        kind: null,
        'a/b~c': cite(null, 'nothing here'),
        nothing: null,
      },
      plan,
    ) as GroundedAnswer;
    expect(answer.fields).toEqual({
      title: 'Supply Agreement',
      boxes: 12,
      names: ['Acme', 'Widget'],
      kind: null,
      'a/b~c': null,
      nothing: null,
    });
    expect(ajv().validate(CUSTOM, answer.fields)).toBe(true);
    expect(answer.claims).toEqual([
      { field: 'title', pointer: '/title', value: 'Supply Agreement', quote: 'SUPPLY AGREEMENT', citedPage: 1 },
      { field: 'boxes', pointer: '/boxes', value: 12, quote: 'twelve (12) boxes', citedPage: 3 },
      { field: 'names', pointer: '/names/0', value: 'Acme', quote: 'Acme, Inc.', citedPage: 1 },
      { field: 'names', pointer: '/names/1', value: 'Widget', quote: 'Widget LLC', citedPage: 4 },
    ]);
    const withSlash = fromGrounded(
      { ...answer.fields, title: cite('x'), boxes: cite(1), names: null, 'a/b~c': cite('y') },
      plan,
    ) as GroundedAnswer;
    expect(withSlash.claims.map((c) => c.pointer)).toEqual(['/title', '/boxes', '/a~1b~0c']);
  });

  it('says what is wrong with an answer of another shape', () => {
    const plan = groundedSchema(CONTRACT_SCHEMA, { pages: 1 });
    expect(fromGrounded([], plan)).toMatch(/not a JSON object/);
    expect(fromGrounded({}, plan)).toMatch(/no "document_name"/);
    const base = minimalJson(plan.schema) as Record<string, unknown>;
    expect(fromGrounded({ ...base, governing_law: 'Delaware' }, plan)).toMatch(
      /\/governing_law is not \{quote, page, value\}/,
    );
    expect(fromGrounded({ ...base, parties: [{ value: 'Acme' }] }, plan)).toMatch(/\/parties\/0 is not/);
  });
});

describe('checkQuotes', () => {
  const pages = [
    'MASTER SUPPLY AGREEMENT\nbetween Acme, Inc. and Widget LLC.',
    'This Agreement shall be governed by the laws of the State of New York.',
    'Notices. Notices go to Acme, Inc. at its office.',
  ];
  const text = pages.join('\n');
  const doc: DocumentText = { text, pageStarts: [0, pages[0]!.length + 1, pages[0]!.length + pages[1]!.length + 2] };
  const claim = (field: string, pointer: string, quote: string, citedPage = 1) => ({
    field,
    pointer,
    value: 'v',
    quote,
    citedPage,
  });

  it('grounds a quote found in the text (tolerant of layout) at its real offsets and page, and flags one that is not', () => {
    const result = checkQuotes(
      doc,
      [
        claim('governing_law', '/governing_law', 'governed  by the laws of the\nState of New-York', 1),
        claim('parties', '/parties/0', 'Acme Holdings plc', 1),
      ],
      { fieldNames: ['governing_law', 'parties', 'renewal_term'] },
    );
    const law = result.evidence.governing_law![0]!;
    expect(law).toMatchObject({ pointer: '/governing_law', grounded: true, citedPage: 1, page: 2 });
    expect(text.slice(law.start, law.end)).toBe('governed by the laws of the State of New York');
    expect(result.evidence.parties).toEqual([
      { pointer: '/parties/0', value: 'v', quote: 'Acme Holdings plc', citedPage: 1, grounded: false },
    ]);
    expect(result.evidence.renewal_term).toEqual([]);
    expect(result.ungrounded).toEqual(['/parties/0']);
  });

  it('places a repeated quote where the model read it on the page it cited, and ignores copied page labels', () => {
    const later = { start: doc.pageStarts[2]!, end: text.length };
    const [onCited] = checkQuotes(doc, [claim('parties', '/parties/0', 'Acme, Inc.', 3)], { fieldNames: ['parties'] })
      .evidence.parties!;
    expect(onCited).toMatchObject({ grounded: true, page: 3 });
    const [read] = checkQuotes(doc, [claim('parties', '/parties/0', 'Acme, Inc.', 1)], {
      fieldNames: ['parties'],
      passages: [later],
    }).evidence.parties!;
    expect(read).toMatchObject({ grounded: true, page: 3 });
    const [first] = checkQuotes(doc, [claim('parties', '/parties/0', 'Acme, Inc.', 2)], { fieldNames: ['parties'] })
      .evidence.parties!;
    expect(first).toMatchObject({ grounded: true, page: 1 });
    const [across] = checkQuotes(doc, [claim('x', '/x', 'and Widget LLC. [page 2] This Agreement shall', 1)], {
      fieldNames: ['x'],
    }).evidence.x!;
    expect(across).toMatchObject({ grounded: true, page: 1 });
    // Too short to ground anything.
    expect(checkQuotes(doc, [claim('x', '/x', 'Acme', 1)], { fieldNames: ['x'] }).ungrounded).toEqual(['/x']);
  });
});
