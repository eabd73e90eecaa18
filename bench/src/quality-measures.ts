import { overlaps, tokens, type FieldName, type LabelledDoc } from '../../dist/eval/score.js';
import type { ExtractOutput } from '../../dist/shared/tasks/extract.js';

/**
 * The cheap, explainable checks the quality benchmark applies to what a model produced: are the quotes it
 * reports as found really at the offsets it gives, are grounded values also right, does a summary name what
 * the labels say, and are its sentences made of the source's words.
 */

/** Words that say nothing about which contract this is: a summary "naming" them names nothing. */
const GENERIC = new Set(
  'a an and any as at be by for from in is it of on or shall the this to with agreement state states laws law governed construed accordance inc llc ltd corporation company party parties term date day'.split(
    ' ',
  ),
);

/** Content words of a text: its tokens (score.ts) without generic words and one-letter tokens. */
function keyWords(text: string): string[] {
  return tokens(text).filter((t) => t.length > 1 && !GENERIC.has(t));
}

/**
 * Whether `summary` names what a labelled span states: at least 60% of the span's key words (its tokens minus
 * generic words like "laws", "agreement") occur in the summary. A span of several clauses is judged by its
 * distinctive words, so "governed by the laws of the State of Ohio" is named by "Ohio law".
 */
export function names(summary: string, span: string): boolean {
  const words = new Set(tokens(summary));
  const key = [...new Set(keyWords(span))];
  if (key.length === 0) return false;
  return key.filter((w) => words.has(w)).length >= Math.ceil(0.6 * key.length);
}

/** Labelled spans of a field worth looking for in a summary: the shorter ones (names, not whole clauses) first. */
function spansOf(label: LabelledDoc, field: FieldName): string[] {
  return [...label.spans[field]].sort((a, b) => a.length - b.length);
}

export interface SummaryCheck {
  /** Per aspect: true / false, or null when the labels state nothing for it. */
  parties: boolean | null;
  governingLaw: boolean | null;
  term: boolean | null;
  sentences: number;
  /** Sentences at least 80% of whose key words occur in the source. */
  supported: number;
}

export function checkSummary(summary: string, source: string, label: LabelledDoc): SummaryCheck {
  const any = (field: FieldName) => {
    const spans = spansOf(label, field);
    return spans.length === 0 ? null : spans.some((s) => names(summary, s));
  };
  const termSpans: FieldName[] = ['expiration_date', 'renewal_term'];
  const term = termSpans.map(any).filter((v) => v !== null);
  const vocabulary = new Set(tokens(source));
  const sentences = splitSentences(summary);
  const supported = sentences.filter((s) => {
    const key = keyWords(s);
    return key.length > 0 && key.filter((w) => vocabulary.has(w)).length >= 0.8 * key.length;
  }).length;
  return {
    parties: any('parties'),
    governingLaw: any('governing_law'),
    term: term.length === 0 ? null : term.some(Boolean),
    sentences: sentences.length,
    supported,
  };
}

export function splitSentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+(?=[A-Z("])|\n+/)
    .map((s) => s.trim())
    .filter((s) => tokens(s).length >= 3);
}

export interface GroundingCheck {
  /** Values the worker extracted. */
  values: number;
  /** Values whose quote it reports as found in the document. */
  grounded: number;
  /** Grounded values whose reported offsets hold text with the quote's words (the worker's claim checked). */
  atOffsets: number;
  /** Grounded values that also overlap a labelled span of their field. */
  groundedCorrect: number;
}

/** Checks the worker's own grounding of one document's output against the text and the labels. */
export function checkGrounding(output: ExtractOutput, text: string, label: LabelledDoc): GroundingCheck {
  const c: GroundingCheck = { values: 0, grounded: 0, atOffsets: 0, groundedCorrect: 0 };
  for (const [field, entries] of Object.entries(output.evidence)) {
    const spans: string[] = field in label.spans ? label.spans[field as FieldName] : [];
    for (const e of entries) {
      c.values++;
      if (!e.grounded) continue;
      c.grounded++;
      const at = e.start !== undefined && e.end !== undefined ? text.slice(e.start, e.end) : '';
      if (tokens(at).join(' ') === tokens(e.quote).join(' ')) c.atOffsets++;
      if (typeof e.value === 'string' && spans.some((s) => overlaps(e.value as string, s))) c.groundedCorrect++;
    }
  }
  return c;
}
