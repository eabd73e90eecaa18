import { PermanentError } from '../../../shared/errors.js';
import type { ExtractOutput } from '../../../shared/tasks/extract.js';
import { generate, promptTokens, type GenerationEnv, type TaskResult } from '../../model/generation.js';
import { pageAt, type DocumentText } from '../../text/document-text.js';
import type { PassageField } from './candidate-passages.js';
import { keywordsFor } from './field-keywords.js';
import type { Claim, GroundedPlan } from './grounded-schema.js';
import { groundedOutput } from './extract.js';

/**
 * Extraction for models too small to write a value and its verbatim quote: per field, the document's sentences
 * are ranked by the field's keywords (candidate-passages.ts) and the model only picks which of the best few
 * states the field (whether it is stated at all is the keywords' call). The value is the picked sentence itself,
 * so every value is grounded by construction, and each field costs one short prompt and a couple of generated
 * tokens instead of a long JSON answer. Works for schemas whose fields are strings or lists of strings (the contract schema).
 */

/** Sentences offered per field: the model reads them all, so few and short. */
const CHOICES = 5;
/** Longest sentence offered; longer ones are cut at a word boundary (a value must fit the field's maxLength anyway). */
const SENTENCE_MAX_CHARS = 400;
/** Fields a contract states at its start (title, parties, date): sentences of its first characters rank higher. */
const START_FIELDS = /\b(name|title|part(y|ies)|agreement_date|dated?|signed)\b/;
const START_CHARS = 4000;
/** A sentence is offered when it has a contract phrasing of the field (weight 2), or two words of its name or description. */
const MIN_SCORE = 1.5;

interface Sentence {
  start: number;
  end: number;
  text: string;
}

export async function chooseValues(
  env: GenerationEnv,
  doc: DocumentText,
  schema: Record<string, unknown>,
  plan: GroundedPlan,
): Promise<TaskResult<ExtractOutput>> {
  const properties = schema.properties as Record<string, Record<string, unknown>>;
  const sentences = splitSentences(doc.text);
  const fields: Record<string, unknown> = {};
  const claims: Claim[] = [];
  const read: Sentence[] = [];
  let tokensIn = 0;
  let tokensOut = 0;
  for (const field of plan.fields) {
    const shape = stringShape(properties[field.name]);
    if (!shape)
      throw new PermanentError(
        'bad-params',
        `method "choose": field "${field.name}" is not a string or a list of strings`,
      );
    const offered = rank(sentences, field, doc.text.length).slice(0, CHOICES);
    // Whether a field is stated is the keywords' call: asked for "none", small models answered it for fields
    // the contract states. The model only picks which sentence states it.
    let picked: Sentence | undefined;
    if (offered.length > 0) {
      const shown = fitting(env, field, offered);
      read.push(...shown);
      const res = shown.length > 1 ? await pick(env, field, shown) : { choice: 1, tokensIn: 0, tokensOut: 0 };
      tokensIn += res.tokensIn;
      tokensOut += res.tokensOut;
      picked = shown[res.choice - 1] ?? shown[0];
    }
    if (!picked) {
      fields[field.name] = shape.list ? [] : null;
      continue;
    }
    const value = cutAtWord(picked.text, shape.maxLength);
    fields[field.name] = shape.list ? [value] : value;
    const pointer = `/${field.name.replace(/~/g, '~0').replace(/\//g, '~1')}${shape.list ? '/0' : ''}`;
    claims.push({ field: field.name, pointer, value, quote: value, citedPage: pageAt(doc, picked.start) });
  }
  const passages = merge(read).map(({ start, end }) => ({
    start,
    end,
    pageStart: pageAt(doc, start),
    pageEnd: pageAt(doc, Math.max(start, end - 1)),
    fields: [],
  }));
  const coveredChars = passages.reduce((n, p) => n + p.end - p.start, 0);
  const output = groundedOutput(
    doc,
    plan,
    { fields, claims },
    { whole: false, passages, text: '', coveredChars, tokens: 0 },
  );
  return { output, tokensIn, tokensOut };
}

/** Tokens the pick may generate: `{"answer": N}`. */
const PICK_TOKENS = 16;

function pickPrompt(env: GenerationEnv, field: PassageField, offered: Sentence[]): () => string {
  const choices = offered.map((s, i) => `${i + 1}. ${s.text.replace(/\s+/g, ' ')}`).join('\n');
  const what = field.description ?? field.name.replace(/_/g, ' ');
  const question = `Which sentence states ${what}? Answer with its number.`;
  return env.style.chat
    ? () => `${question}\n\n${choices}`
    : () => `Sentences from a contract:\n${choices}\n\nQuestion: ${question}\nAnswer (JSON): `;
}

/** The best-ranked choices whose prompt fits the context: a small context holds fewer of them, at least one. */
function fitting(env: GenerationEnv, field: PassageField, offered: Sentence[]): Sentence[] {
  const fits = (n: number) =>
    promptTokens(env.model, env.style, pickPrompt(env, field, offered.slice(0, n))) + PICK_TOKENS <
    env.sequence.contextSize;
  let n = offered.length;
  while (n > 1 && !fits(n)) n--;
  return offered.slice(0, n);
}

async function pick(env: GenerationEnv, field: PassageField, offered: Sentence[]) {
  const wrap = pickPrompt(env, field, offered);
  const grammar = await env.model.llama.createGrammarForJsonSchema({
    type: 'object',
    properties: { answer: { enum: Array.from({ length: offered.length }, (_, i) => i + 1) } },
  });
  const res = await generate(env, { text: '', wrap, maxTokens: PICK_TOKENS, grammar });
  let choice = 1;
  try {
    choice = (JSON.parse(res.text) as { answer: number }).answer;
  } catch {
    // Cut off: the best-ranked.
  }
  return { choice, tokensIn: res.tokensIn, tokensOut: res.tokensOut };
}

/** Sentences (and headings, lines) of the text with their offsets. */
export function splitSentences(text: string): Sentence[] {
  const out: Sentence[] = [];
  const re = /[^\n.;]*(?:[.;](?!\s)[^\n.;]*)*[.;]?/g;
  for (const m of text.matchAll(re)) {
    const raw = m[0];
    const lead = raw.length - raw.trimStart().length;
    const body = raw.trim();
    if (body.length < 12 || !/\p{L}{3}/u.test(body)) continue;
    const start = m.index + lead;
    const cut = cutAtWord(body, SENTENCE_MAX_CHARS);
    out.push({ start, end: start + cut.length, text: cut });
  }
  return out;
}

/** The field's sentences, best first: keyword score, raised near the start for start fields; only those with a keyword. */
function rank(sentences: Sentence[], field: PassageField, length: number): Sentence[] {
  const keywords = keywordsFor(field);
  const startField = START_FIELDS.test(field.name);
  const scored = sentences.map((s, i) => {
    let score = 0;
    for (const { pattern, weight } of keywords) if (s.text.match(pattern)) score += weight;
    if (startField && s.start < Math.min(START_CHARS, length / 4)) score = score * 2 + (i < 3 ? 1 : 0);
    return { s, score };
  });
  return scored
    .filter((x) => x.score >= MIN_SCORE)
    .sort((a, b) => b.score - a.score || a.s.start - b.s.start)
    .map((x) => x.s);
}

/** Whether every field of the schema is a string or a list of strings, which is what `choose` can fill. */
export function choosable(schema: Record<string, unknown>): boolean {
  const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  return Object.values(properties).every((node) => stringShape(node) !== undefined);
}

/** A string field or a list of string items, and the longest string it takes. */
function stringShape(node: Record<string, unknown> | undefined): { list: boolean; maxLength: number } | undefined {
  if (!node) return undefined;
  const string = (n: unknown): number | undefined => {
    const s = n as Record<string, unknown> | undefined;
    if (s?.type === 'string' && s.format === undefined && s.pattern === undefined && s.enum === undefined)
      return typeof s.maxLength === 'number' ? s.maxLength : SENTENCE_MAX_CHARS;
    const branches = Array.isArray(s?.oneOf) ? (s.oneOf as unknown[]) : undefined;
    const found = branches?.map(string).find((x) => x !== undefined);
    return found;
  };
  if (node.type === 'array') {
    const max = string(node.items);
    return max === undefined ? undefined : { list: true, maxLength: max };
  }
  const max = string(node);
  return max === undefined ? undefined : { list: false, maxLength: max };
}

function cutAtWord(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = text.slice(0, max);
  const space = head.lastIndexOf(' ');
  return (space > max / 2 ? head.slice(0, space) : head).trimEnd();
}

function merge(list: Sentence[]): { start: number; end: number }[] {
  const sorted = [...list].sort((a, b) => a.start - b.start);
  const out: { start: number; end: number }[] = [];
  for (const s of sorted) {
    const last = out.at(-1);
    if (last && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else out.push({ start: s.start, end: s.end });
  }
  return out;
}
