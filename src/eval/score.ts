/**
 * Scoring of contract extraction against CUAD-style labels. Pure: no I/O, so it can be tested on its own
 * and fed anything — model output, or the labels themselves (which must score 100%).
 */
import type { CONTRACT_FIELDS } from '../worker/tasks/extract/contract-schema.js';

/** Schema field → CUAD label key. `satisfies` makes the build fail if the schema gains a field this misses. */
export const CUAD_KEYS = {
  document_name: 'Document Name',
  parties: 'Parties',
  agreement_date: 'Agreement Date',
  effective_date: 'Effective Date',
  expiration_date: 'Expiration Date',
  renewal_term: 'Renewal Term',
  notice_period_to_terminate_renewal: 'Notice Period To Terminate Renewal',
  governing_law: 'Governing Law',
} as const satisfies Record<keyof typeof CONTRACT_FIELDS, string>;

export type FieldName = keyof typeof CUAD_KEYS;
export const FIELDS = Object.keys(CUAD_KEYS) as FieldName[];

export type PredictedValue = string | string[] | null | undefined;
export interface Prediction {
  file: string;
  fields: Partial<Record<FieldName, PredictedValue>>;
}
export interface LabelledDoc {
  file: string;
  spans: Record<FieldName, string[]>;
}

/** Labels as stored (`{ file, "Document Name": [...], ... }[]`) → spans per schema field; a missing key is no span. */
export function parseLabels(json: unknown): LabelledDoc[] {
  if (!Array.isArray(json)) throw new Error('labels: expected an array of { file, <CUAD key>: string[] }');
  return json.map((entry: unknown, i) => {
    const row = entry as Record<string, unknown> | null;
    if (!row || typeof row.file !== 'string') throw new Error(`labels[${i}]: no "file" name`);
    const spans = {} as Record<FieldName, string[]>;
    for (const field of FIELDS) {
      const value = row[CUAD_KEYS[field]] ?? [];
      if (!Array.isArray(value) || !value.every((s) => typeof s === 'string')) {
        throw new Error(`labels[${i}] (${row.file}): "${CUAD_KEYS[field]}" must be a list of strings`);
      }
      spans[field] = value;
    }
    return { file: row.file, spans };
  });
}

/**
 * Text → comparable tokens: NFKC (ligatures, full-width forms), lower case, a hyphen between two word
 * characters removed together with any line break after it ("termi-\nnation", "non-exclusive" and
 * "nonexclusive" all become one word, the same on both sides), then words of letters and digits only —
 * so quotes of any style, punctuation and runs of whitespace never make two texts differ.
 */
export function tokens(text: string): string[] {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/(?<=[\p{L}\p{N}])[-\u2010\u2011\u00ad]\s*(?=[\p{L}\p{N}])/gu, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t !== '');
}

export function normalize(text: string): string {
  return tokens(text).join(' ');
}

/** Words that carry no meaning alone: sharing only these ("of the") is no evidence of a match. */
const STOP_WORDS = new Set(
  'a an and any as at be by for from hereto herein in is it its of on or shall such that the their this to which with'.split(
    ' ',
  ),
);
const MIN_SHARE = 0.6;

/**
 * Whether a predicted value and a labelled span refer to the same text. Both are tokenised as above. Of the
 * two, take the one with fewer content words (words not in STOP_WORDS), S. They overlap when
 *  - one contiguous run of tokens common to both holds at least 60% of S's content words, rounded up, and
 *    at least one (so values of one or two content words must be contained whole, and filler alone never
 *    matches), and
 *  - every all-digit token of S (a day, a year, the 30 of "30 days") occurs in the other one.
 * Containment either way is the 100% case: a short value inside a long labelled clause counts, as the issue
 * asks. The 40% slack absorbs what exact containment cannot: a value the grammar cut off mid-word, PDF
 * artefacts inside a span ("19t h day of December") and a stray word at either end. Counting content words
 * only keeps "State of Delaware" from matching "the State of Ohio" on "state of"; the digit rule keeps the
 * slack from passing a wrong date or period ("January 18, 2022" against "January 18, 2020"). What it still
 * passes: a value sharing 60% of its words with a span but not the rest ("State of New York" / "New Jersey").
 */
export function overlaps(value: string, span: string): boolean {
  return tokenOverlap(tokens(value), tokens(span));
}

const contentWords = (t: string[]) => t.filter((w) => !STOP_WORDS.has(w)).length;

function tokenOverlap(a: string[], b: string[]): boolean {
  const [short, long] = contentWords(a) <= contentWords(b) ? [a, b] : [b, a];
  // contentBefore[i]: content words among short[0..i), so a run's content words are a subtraction.
  const contentBefore = [0];
  for (const t of short) contentBefore.push(contentBefore.at(-1)! + (STOP_WORDS.has(t) ? 0 : 1));
  const content = contentBefore.at(-1)!;
  if (content === 0) return false;
  const longSet = new Set(long);
  if (short.some((t) => /^\d+$/.test(t) && !longSet.has(t))) return false;
  const need = Math.max(1, Math.ceil(MIN_SHARE * content - 1e-9));
  // run[j]: length of the common run ending at short[i-1] and long[j-1] (longest-common-substring DP).
  let prev = new Array<number>(long.length + 1).fill(0);
  for (let i = 1; i <= short.length; i++) {
    const run = new Array<number>(long.length + 1).fill(0);
    for (let j = 1; j <= long.length; j++) {
      if (short[i - 1] !== long[j - 1]) continue;
      const len = prev[j - 1]! + 1;
      run[j] = len;
      if (contentBefore[i]! - contentBefore[i - len]! >= need) return true;
    }
    prev = run;
  }
  return false;
}

export interface Counts {
  /** Non-empty predicted values. */
  predicted: number;
  /** Predicted values that overlap some labelled span of their document and field. */
  tp: number;
  /** Predicted values that overlap none. */
  fp: number;
  /** Labelled spans. */
  support: number;
  /** Labelled spans that no predicted value overlaps. */
  fn: number;
  /** Predicted values checked against a document text, and those found in it. */
  checked: number;
  grounded: number;
}

export interface Scores extends Counts {
  /** tp / predicted; null when nothing was predicted. */
  precision: number | null;
  /** (support − fn) / support; null when nothing is labelled. */
  recall: number | null;
  f1: number | null;
  /** grounded / checked; null when no text was supplied or nothing predicted. */
  groundedShare: number | null;
}

export interface EvalScore {
  documents: number;
  fields: Record<FieldName, Scores>;
  /** Micro-average: the counts of all fields summed, then the ratios. */
  overall: Scores;
}

/** Non-empty values of one predicted field; a list is several values, null or blank is none. */
export function valuesOf(value: PredictedValue): string[] {
  const list = value == null ? [] : Array.isArray(value) ? value : [value];
  return list.filter((v) => typeof v === 'string' && tokens(v).length > 0);
}

/**
 * Scores predictions against labels, over the labelled documents (a labelled document without a prediction
 * counts as predicting nothing; predictions for unlabelled files are ignored). Precision counts predicted
 * values and recall counts labelled spans, because matching is many-to-many: one predicted clause may cover
 * two labelled spans, and "Parties" lists several names. `texts` (file → document text) enables the
 * grounded share: a value is grounded when its normalised form occurs, on word boundaries, in the
 * normalised document text.
 */
export function score(
  labels: LabelledDoc[],
  predictions: Prediction[],
  texts?: ReadonlyMap<string, string>,
): EvalScore {
  const byFile = new Map(predictions.map((p) => [p.file, p]));
  const fields = Object.fromEntries(FIELDS.map((f) => [f, emptyCounts()])) as Record<FieldName, Counts>;
  for (const doc of labels) {
    const predicted = byFile.get(doc.file)?.fields ?? {};
    const text = texts?.get(doc.file);
    const haystack = text === undefined ? undefined : ` ${normalize(text)} `;
    for (const field of FIELDS) {
      const c = fields[field];
      const values = valuesOf(predicted[field]).map(tokens);
      const spans = doc.spans[field].map(tokens).filter((s) => s.length > 0);
      const tp = values.filter((v) => spans.some((s) => tokenOverlap(v, s))).length;
      c.predicted += values.length;
      c.tp += tp;
      c.fp += values.length - tp;
      c.support += spans.length;
      c.fn += spans.filter((s) => !values.some((v) => tokenOverlap(v, s))).length;
      if (haystack !== undefined) {
        c.checked += values.length;
        c.grounded += values.filter((v) => haystack.includes(` ${v.join(' ')} `)).length;
      }
    }
  }
  const total = emptyCounts();
  for (const c of Object.values(fields)) for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += c[k];
  return {
    documents: labels.length,
    fields: Object.fromEntries(FIELDS.map((f) => [f, ratios(fields[f])])) as Record<FieldName, Scores>,
    overall: ratios(total),
  };
}

function emptyCounts(): Counts {
  return { predicted: 0, tp: 0, fp: 0, support: 0, fn: 0, checked: 0, grounded: 0 };
}

function ratios(c: Counts): Scores {
  const precision = c.predicted > 0 ? c.tp / c.predicted : null;
  const recall = c.support > 0 ? (c.support - c.fn) / c.support : null;
  // Nothing predicted for labelled spans is F1 0 (recall is 0); predictions for a field without labels leave F1 undefined.
  const f1 = recall === null ? null : !precision || !recall ? 0 : (2 * precision * recall) / (precision + recall);
  return { ...c, precision, recall, f1, groundedShare: c.checked > 0 ? c.grounded / c.checked : null };
}
