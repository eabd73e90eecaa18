import type { TextChunk } from '../../text/token-chunker.js';
import type { PassageField } from './candidate-passages.js';

/** Which words say a field, and how strongly each chunk of a document says them (for candidate-passages.ts). */

/**
 * How contracts phrase the built-in contract fields (contract-schema.ts), which their names alone do not say:
 * "governing law" is stated as "governed by the laws of", a renewal as "automatically extended".
 */
export const CONTRACT_KEYWORDS: Readonly<Record<string, readonly string[]>> = {
  // A title is on the first page, which every start field gets; "agreement" is said everywhere.
  document_name: [],
  parties: [
    'by and between',
    'between',
    'hereinafter',
    'party',
    'parties',
    'inc.',
    'llc',
    'ltd',
    'corporation',
    'limited',
  ],
  agreement_date: ['dated', 'as of', 'entered into', 'day of', 'made and entered'],
  effective_date: ['effective date', 'effective as of', 'commencement', 'commence'],
  expiration_date: ['initial term', 'expire', 'expiration', 'term of this agreement', 'until', 'years from'],
  renewal_term: ['renew', 'automatically', 'successive', 'extended', 'additional term', 'renewal term'],
  notice_period_to_terminate_renewal: [
    'prior written notice',
    'days prior',
    'non-renewal',
    'not to renew',
    'written notice',
    'intention',
  ],
  governing_law: ['governed by', 'laws of', 'governing law', 'construed', 'jurisdiction'],
};

/** A field whose name or description says one of these is usually stated on the first page: title, parties, dates. */
const START_WORDS = /\b(title|name|part(y|ies)|dated?|signed)\b/;
const STOP_WORDS = new Set(
  'the and for from that this with when what which how who after before under over into onto than then was were are has have had its their any all each other such shall will may must needed need stop stops does not per of to a an or by in on at as is be it'.split(
    ' ',
  ),
);
/** Weights: a contract phrasing is better evidence than a word of the field's name, which beats its description. */
const WEIGHT = { synonym: 2, name: 1, description: 0.5 };

export interface Keyword {
  pattern: RegExp;
  weight: number;
}

/**
 * The keywords of a field: the words of its name (snake_case and camelCase split) and of its description,
 * without stop words, plus the field's synonyms. Words match as prefixes ("renew" finds "renewal", "renewed");
 * phrases match whole, across line breaks and hyphens.
 */
export function keywordsFor(
  field: PassageField,
  synonyms: Readonly<Record<string, readonly string[]>> = CONTRACT_KEYWORDS,
): Keyword[] {
  const weights = new Map<string, number>();
  const add = (k: string, w: number) => weights.set(k, Math.max(w, weights.get(k) ?? 0));
  for (const w of words(field.name)) add(w, WEIGHT.name);
  for (const w of words(field.description ?? '')) add(w, WEIGHT.description);
  for (const s of synonyms[field.name] ?? []) add(s.toLowerCase().trim(), WEIGHT.synonym);
  return [...weights].filter(([k]) => k !== '').map(([k, weight]) => ({ pattern: keywordPattern(k), weight }));
}

function words(s: string): string[] {
  return s
    .replace(/(\p{Ll})(\p{Lu})/gu, '$1 $2')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length >= 3 && !STOP_WORDS.has(w));
}

function keywordPattern(keyword: string): RegExp {
  const parts = keyword.split(/\s+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const tail = parts.length > 1 ? '(?![\\p{L}\\p{N}])' : '';
  return new RegExp(`(?<![\\p{L}\\p{N}])${parts.join('[\\s\\-\\u00ad]+')}${tail}`, 'giu');
}

/**
 * Score of each chunk for one field: over its keywords, weight × rarity × (1 + ln occurrences). Rarity is
 * ln(1 + chunks / chunks containing it), so "agreement", which every chunk of a contract says, counts for
 * little, and "governed by", which one clause says, for much.
 */
export function scoreChunks(chunks: TextChunk[], keywords: Keyword[]): number[] {
  const scores = chunks.map(() => 0);
  for (const { pattern, weight } of keywords) {
    const tf = chunks.map((c) => c.text.match(pattern)?.length ?? 0);
    const df = tf.filter((n) => n > 0).length;
    if (df === 0) continue;
    const rarity = Math.log(1 + chunks.length / df);
    tf.forEach((n, i) => {
      if (n > 0) scores[i]! += weight * rarity * (1 + Math.log(n));
    });
  }
  return scores;
}

export function isStartField(field: PassageField): boolean {
  return START_WORDS.test(words(field.name).join(' ')) || START_WORDS.test(field.description?.toLowerCase() ?? '');
}
