import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DocumentRef, ExtractOutput, TaskParams } from '../../src/shared/job-types.js';
import { CandidatePassages } from '../../src/worker/tasks/extract/candidate-passages.js';
import { loadDocument } from '../../src/worker/text/document-loader.js';
import { pageAt, type DocumentText } from '../../src/worker/text/document-text.js';
import { ModelHost } from '../../src/worker/model/model-host.js';
import { TaskRunner } from '../../src/worker/tasks/task-runner.js';
import { PdfTextExtractor } from '../../src/worker/text/pdf-text.js';
import { normalizeForQuote } from '../../src/worker/tasks/extract/quote-finder.js';
import { CONTRACT_SCHEMA } from '../../src/worker/tasks/extract/contract-schema.js';
import { groundedOutput } from '../../src/worker/tasks/extract/extract.js';
import { fromGrounded, groundedSchema, type GroundedAnswer } from '../../src/worker/tasks/extract/grounded-schema.js';
import { CONTRACTS, TEST_MODEL } from '../helpers/paths.js';

/** Small enough that every labelled contract is too long for it, so each is read through candidate passages. */
const CONTEXT = 1024;
const LABELLED = (JSON.parse(readFileSync(path.join(CONTRACTS, 'labels.json'), 'utf8')) as Array<{ file: string }>).map(
  (l) => l.file,
);

interface Loaded {
  ref: DocumentRef;
  doc: DocumentText;
}

const docs: Loaded[] = [];
let host: ModelHost | undefined;

beforeAll(async () => {
  const extractor = new PdfTextExtractor();
  try {
    for (const file of LABELLED) {
      const uri = path.join(CONTRACTS, file);
      const bytes = readFileSync(uri);
      const ref = {
        uri,
        name: file,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        bytes: bytes.byteLength,
      };
      const { doc } = await loadDocument(
        ref,
        { maxBytes: 256 * 2 ** 20, maxPages: 2000, parseTimeoutMs: 60_000, parseMemoryMb: 1024 },
        { extractor },
      );
      docs.push({ ref, doc });
    }
  } finally {
    await extractor.close();
  }
  host = await ModelHost.load({
    modelPath: TEST_MODEL,
    device: 'cpu',
    role: 'generate',
    sequences: 1,
    threads: 1,
    contextSize: CONTEXT,
    gpuLayers: 'auto',
  });
});

afterAll(async () => {
  await host?.dispose();
});

async function extract({ ref, doc }: Loaded, params: TaskParams = {}): Promise<ExtractOutput> {
  const run = await new TaskRunner(host!).run({ batchId: 'grounded', doc: ref, task: 'extract', params }, doc);
  return run.output;
}

/**
 * What grounded output must satisfy whatever the model said: evidence for exactly the non-null values, each
 * either grounded with offsets where its quote really is, or listed as ungrounded.
 */
function expectGroundedOrFlagged(
  doc: DocumentText,
  schema: Record<string, unknown>,
  out: ExtractOutput,
): { values: number; grounded: number } {
  const names = Object.keys(schema.properties as object);
  expect(Object.keys(out.evidence)).toEqual(names);
  const flagged: string[] = [];
  let values = 0;
  for (const name of names) {
    const value = out.fields[name];
    const expected =
      value === null
        ? []
        : Array.isArray(value)
          ? (value as unknown[]).map((v, i) => [`/${name}/${i}`, v])
          : [[`/${name}`, value]];
    expect(out.evidence[name]!.map((e) => [e.pointer, e.value])).toEqual(expected);
    for (const e of out.evidence[name]!) {
      values++;
      if (e.grounded) {
        expect(Number.isInteger(e.start) && Number.isInteger(e.end) && e.start! < e.end!).toBe(true);
        // The quote is at those offsets: the same text up to whitespace, hyphenation, quote style and case.
        expect(normalizeForQuote(doc.text.slice(e.start, e.end))).toBe(
          normalizeForQuote(e.quote.replace(/\[page \d+\]/g, ' ')),
        );
        expect(e.page).toBe(pageAt(doc, e.start!));
      } else {
        expect(e).not.toHaveProperty('start');
        flagged.push(e.pointer);
      }
    }
  }
  expect(out.ungrounded).toEqual(flagged);
  return { values, grounded: values - flagged.length };
}

/** Passages are what the model read: in order, inside the text, pages right, the first page among them. */
function expectPassages(doc: DocumentText, out: ExtractOutput): void {
  expect(out.truncated).toBe(true);
  const passages = out.passages!;
  expect(passages.length).toBeGreaterThan(1);
  let prevEnd = 0;
  for (const p of passages) {
    expect(p.start).toBeGreaterThanOrEqual(prevEnd);
    expect(p.end).toBeLessThanOrEqual(doc.text.length);
    expect([p.pageStart, p.pageEnd]).toEqual([pageAt(doc, p.start), pageAt(doc, p.end - 1)]);
    prevEnd = p.end;
  }
  expect(out.coveredChars).toBe(passages.reduce((n, p) => n + p.end - p.start, 0));
  expect(passages[0]!.start).toBe(doc.text.length - doc.text.trimStart().length);
  // Not the document's start alone: the last passage lies beyond any prefix of the same length.
  expect(passages.at(-1)!.end).toBeGreaterThan(out.coveredChars);
}

describe('grounded extraction with the tiny model over the 10 labelled contracts', () => {
  it('method quote: returns schema-valid fields, every value grounded at its offsets or flagged, long contracts read as candidate passages', async () => {
    expect(docs).toHaveLength(10);
    const validate = new Ajv2020({ strict: false }).compile(CONTRACT_SCHEMA);
    const rows: string[] = [];
    let governingPassages = 0;
    for (const loaded of docs) {
      const { doc } = loaded;
      const started = performance.now();
      const out = await extract(loaded, { method: 'quote' });
      const seconds = (performance.now() - started) / 1000;
      expect(validate(out.fields), `${loaded.ref.name}: ${JSON.stringify(validate.errors)}`).toBe(true);
      const { values, grounded } = expectGroundedOrFlagged(doc, CONTRACT_SCHEMA, out);
      expectPassages(doc, out);
      // The keyword ranking finds the governing-law clause a prefix would miss.
      const law = out.passages!.filter((p) => p.fields.includes('governing_law'));
      if (law.some((p) => /govern|laws\s+of|construed|jurisdiction/i.test(doc.text.slice(p.start, p.end))))
        governingPassages++;
      rows.push(
        `${loaded.ref.name.padEnd(32)} ${String(doc.pageStarts.length).padStart(4)} pages ${String(doc.text.length).padStart(7)} chars  ` +
          `${String(out.passages!.length).padStart(2)} passages ${String(out.coveredChars).padStart(4)} chars read, last ends at ${String(out.passages!.at(-1)!.end).padStart(6)}  ` +
          `values ${values}, grounded ${grounded}  ${seconds.toFixed(1)} s`,
      );
    }
    console.log(
      `grounded extract, context ${CONTEXT}:\n${rows.join('\n')}\ngoverning-law passages that state it: ${governingPassages}/10`,
    );
    expect(governingPassages).toBeGreaterThanOrEqual(8);
  });

  it('without a method, fills the contract schema by choosing sentences: schema-valid, every value grounded at its offsets', async () => {
    const validate = new Ajv2020({ strict: false }).compile(CONTRACT_SCHEMA);
    let values = 0;
    for (const loaded of docs.slice(0, 3)) {
      const out = await extract(loaded);
      expect(validate(out.fields), JSON.stringify(validate.errors)).toBe(true);
      const counted = expectGroundedOrFlagged(loaded.doc, CONTRACT_SCHEMA, out);
      expect(counted.grounded).toBe(counted.values);
      values += counted.values;
    }
    expect(values).toBeGreaterThan(0);
  });

  it('a schema that choose cannot fill (an integer field) falls back to quote: every value cited, grounded at its offsets or flagged', async () => {
    const schema = {
      type: 'object',
      properties: {
        title: { type: 'string', minLength: 1, maxLength: 40, description: 'the title of the agreement' },
        names: {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 24 },
          minItems: 1,
          maxItems: 2,
          description: 'the parties',
        },
        year: { type: 'integer', description: 'the year the agreement was signed' },
      },
      required: ['title', 'names', 'year'],
    };
    const validate = new Ajv2020({ strict: false }).compile(schema);
    let values = 0;
    let grounded = 0;
    for (const loaded of docs.slice(0, 3)) {
      const out = await extract(loaded, { schema, maxTokens: 384 });
      expect(validate(out.fields), JSON.stringify(validate.errors)).toBe(true);
      const counted = expectGroundedOrFlagged(loaded.doc, schema, out);
      expect(counted.values).toBe(2 + (out.fields.names as unknown[]).length);
      values += counted.values;
      grounded += counted.grounded;
    }
    console.log(`schema without nulls: ${values} values cited, ${grounded} grounded`);
    expect(values).toBeGreaterThanOrEqual(9);
  });
});

describe('the grounding check on a fixed answer (no model)', () => {
  it('grounds a real quote at its offsets and page, and flags an invented one', () => {
    const { doc } = docs.find(({ doc }) => /governed\s+by/i.test(doc.text))!;
    const at = doc.text.search(/governed\s+by/i);
    // The clause as a model would repeat it: re-wrapped, in capitals.
    const real = doc.text
      .slice(at, at + 90)
      .replace(/\s+/g, ' ')
      .trim()
      .toUpperCase();
    const invented = 'This Agreement is governed by the laws of the Kingdom of Atlantis';
    const plan = groundedSchema(CONTRACT_SCHEMA, { pages: doc.pageStarts.length });
    const modelOutput = JSON.stringify({
      document_name: { quote: invented, page: 1, value: 'Atlantis Agreement' },
      parties: [],
      agreement_date: null,
      effective_date: null,
      expiration_date: null,
      renewal_term: null,
      notice_period_to_terminate_renewal: null,
      governing_law: { quote: real, page: 1, value: 'the laws of the state' },
    });
    const answer = fromGrounded(JSON.parse(modelOutput), plan) as GroundedAnswer;
    expect(typeof answer).toBe('object');
    expect(new Ajv2020({ strict: false }).validate(CONTRACT_SCHEMA, answer.fields)).toBe(true);
    const selected = new CandidatePassages(doc, plan.fields, { countTokens: (t) => t.length }).select(2000);
    const out = groundedOutput(doc, plan, answer, selected);

    expect(out.ungrounded).toEqual(['/document_name']);
    expect(out.evidence.document_name).toEqual([
      { pointer: '/document_name', value: 'Atlantis Agreement', quote: invented, citedPage: 1, grounded: false },
    ]);
    const law = out.evidence.governing_law![0]!;
    expect(law).toMatchObject({
      pointer: '/governing_law',
      grounded: true,
      start: at,
      citedPage: 1,
      page: pageAt(doc, at),
    });
    expect(normalizeForQuote(doc.text.slice(law.start, law.end))).toBe(normalizeForQuote(real));
    expect(out.fields).toMatchObject({ document_name: 'Atlantis Agreement', governing_law: 'the laws of the state' });
    expect(out).toMatchObject({ truncated: true, coveredChars: selected.coveredChars });
  });
});
