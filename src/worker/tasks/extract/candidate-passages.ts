import { pageAt, type DocumentText } from '../../text/document-text.js';
import { chunkDocument, type TextChunk } from '../../text/token-chunker.js';

/**
 * What a model reads of a document that is too long for its context when it extracts fields. Taking the start
 * would lose everything a contract says late (governing law, renewal, notice periods sit in the last pages).
 * Instead the document is chunked by the model's own tokens, every chunk is scored per field by keywords, and the
 * prompt budget is filled with the best chunks of each field in turn (round-robin), so that a field with many
 * keyword hits cannot crowd out the others. The chosen chunks are given in document order, each page's text after
 * a `[page N]` label so the model can cite pages.
 *
 * Pure: the token counter is injected (in a worker `(t) => model.tokenize(t).length`).
 */

export interface PassageField {
  name: string;
  /** The field's schema description; its words are keywords too. */
  description?: string;
}

export interface Passage {
  /** [start, end) offsets into the document text. */
  start: number;
  end: number;
  /** 1-based pages of the first and the last character. */
  pageStart: number;
  pageEnd: number;
  /** The fields (in field order) whose ranking chose a chunk of this passage; empty for spare-room filler. */
  fields: string[];
}

export interface PassageSelection {
  /** The whole document fits: one passage with all of it. */
  whole: boolean;
  /** In document order, neither overlapping nor adjacent (adjacent chunks are merged). */
  passages: Passage[];
  /** What goes into the prompt: the passages in order, blank-line separated, each page's text after `[page N]`. */
  text: string;
  /** Characters of the document inside the passages. */
  coveredChars: number;
  /** countTokens(text): at most the budget it was selected for. */
  tokens: number;
}

export interface CandidateOptions {
  /** Tokens of a piece of text, as the model that reads it counts them. */
  countTokens: (text: string) => number;
  /**
   * Tokens per candidate chunk. Default: the first selection's budget shared by max(4, fields) labelled chunks,
   * within [32, 512], so every field can get at least one chunk and a chunk still holds a clause.
   */
  chunkTokens?: number;
  /** Tokens consecutive chunks share, so a clause cut by one chunk is whole in the next (default chunkTokens / 8). */
  overlapTokens?: number;
  /** Keywords by field name, on top of the words of each field's name and description (default {@link CONTRACT_KEYWORDS}). */
  synonyms?: Readonly<Record<string, readonly string[]>>;
}

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
/**
 * A chunk is a candidate for a field when it scores at least this share of the field's best chunk: weaker ones
 * (a word of the description in passing) only fill spare room, so they neither take a field's turn nor count
 * as chosen for it.
 */
const RELEVANT_SHARE = 0.3;
const MIN_CHUNK_TOKENS = 32;
const MAX_CHUNK_TOKENS = 512;

interface Keyword {
  pattern: RegExp;
  weight: number;
}

export class CandidatePassages {
  readonly #doc: DocumentText;
  readonly #fields: PassageField[];
  readonly #opts: CandidateOptions;
  #wholeTokens?: number;
  #chunks?: TextChunk[];
  /** Per field: chunk indices, best first. */
  #ranked?: number[][];
  /** Per chunk: summed scores over the fields, for filling spare room. */
  #total?: number[];

  constructor(doc: DocumentText, fields: PassageField[], opts: CandidateOptions) {
    this.#doc = doc;
    this.#fields = fields;
    this.#opts = opts;
  }

  /** The chunks candidates are drawn from (after the first selection that did not fit the whole document). */
  get chunks(): readonly TextChunk[] | undefined {
    return this.#chunks;
  }

  /** Per field name, its candidate chunks' indices, best first (after the first selection that chunked). */
  get ranking(): Record<string, number[]> | undefined {
    const ranked = this.#ranked;
    return ranked && Object.fromEntries(this.#fields.map((f, i) => [f.name, ranked[i]!]));
  }

  /**
   * The passages to give the model within `budget` tokens: the whole document when it fits, else the best
   * chunks per field. Chunk size is fixed by the first call that chunks; later calls (a smaller budget after
   * the prompt turned out longer than counted) select from the same chunks.
   */
  select(budget: number): PassageSelection {
    const { text } = this.#doc;
    const count = this.#opts.countTokens;
    this.#wholeTokens ??= count(labelled(this.#doc, [{ start: 0, end: text.length }]));
    if (this.#wholeTokens <= budget) {
      const all = {
        start: 0,
        end: text.length,
        pageStart: 1,
        pageEnd: pageAt(this.#doc, Math.max(0, text.length - 1)),
        fields: this.#fields.map((f) => f.name),
      };
      return {
        whole: true,
        passages: [all],
        text: labelled(this.#doc, [all]),
        coveredChars: text.length,
        tokens: this.#wholeTokens,
      };
    }
    const labelTokens = count(`[page ${this.#doc.pageStarts.length}]\n`);
    const sepTokens = count('\n\n');
    const chunks = this.#chunk(budget, labelTokens + sepTokens);
    const ranked = this.#ranked!;
    const cost = (c: TextChunk) => c.tokens + (c.pageEnd - c.pageStart + 1) * labelTokens + sepTokens;

    const picked: number[] = [];
    const chosenBy = new Map<number, Set<number>>();
    const choose = (chunk: number, field?: number) => {
      let by = chosenBy.get(chunk);
      if (!by) chosenBy.set(chunk, (by = new Set()));
      if (field !== undefined) by.add(field);
    };
    let used = 0;
    const next = ranked.map(() => 0);
    for (let progress = true; progress;) {
      progress = false;
      for (const [f, list] of ranked.entries()) {
        // A field's next best chunk that is not chosen yet; chunks other fields chose on the way serve it too.
        while (next[f]! < list.length) {
          const i = list[next[f]!++]!;
          if (chosenBy.has(i)) {
            choose(i, f);
            continue;
          }
          if (used + cost(chunks[i]!) > budget) continue;
          picked.push(i);
          choose(i, f);
          used += cost(chunks[i]!);
          progress = true;
          break;
        }
      }
    }
    // Room left when every field's keyword chunks are in: the chunks with most keyword weight overall, then the earliest.
    const rest = chunks.map((c) => c.index).filter((i) => !chosenBy.has(i));
    rest.sort((a, b) => this.#total![b]! - this.#total![a]! || a - b);
    for (const i of rest) {
      if (used + cost(chunks[i]!) > budget) continue;
      picked.push(i);
      choose(i);
      used += cost(chunks[i]!);
    }

    // Costs are summed per chunk; tokens are not additive at seams, so the assembled text is counted and the
    // last choices dropped until it truly fits.
    for (;;) {
      const passages = this.#merge(
        picked.map((i) => chunks[i]!),
        chosenBy,
      );
      const out = labelled(this.#doc, passages);
      const tokens = out === '' ? 0 : count(out);
      if (tokens <= budget || picked.length === 0) {
        const coveredChars = passages.reduce((n, p) => n + p.end - p.start, 0);
        return { whole: false, passages, text: out, coveredChars, tokens };
      }
      chosenBy.delete(picked.pop()!);
    }
  }

  #chunk(budget: number, overhead: number): TextChunk[] {
    if (this.#chunks) return this.#chunks;
    // One chunk per field must fit with its label, or the last fields of the first round get nothing.
    const fair = Math.floor(budget / Math.max(4, this.#fields.length)) - overhead;
    const size = Math.max(
      1,
      Math.min(this.#opts.chunkTokens ?? clamp(fair, MIN_CHUNK_TOKENS, MAX_CHUNK_TOKENS), budget - overhead),
    );
    const overlap = Math.min(size - 1, this.#opts.overlapTokens ?? Math.floor(size / 8));
    const chunks = chunkDocument(this.#doc, {
      maxTokens: size,
      overlapTokens: overlap,
      countTokens: this.#opts.countTokens,
    });
    const synonyms = this.#opts.synonyms ?? CONTRACT_KEYWORDS;
    const scores = this.#fields.map((f) => scoreChunks(chunks, keywordsFor(f, synonyms)));
    this.#ranked = this.#fields.map((f, k) => {
      const s = scores[k]!;
      const best = Math.max(0, ...s);
      const order = chunks.map((c) => c.index).filter((i) => s[i]! > 0 && s[i]! >= RELEVANT_SHARE * best);
      order.sort((a, b) => s[b]! - s[a]! || a - b);
      // The first page states title, parties and dates whatever words it uses.
      if (chunks.length > 0 && isStartField(f)) return [0, ...order.filter((i) => i !== 0)];
      return order;
    });
    this.#total = chunks.map((c) => scores.reduce((sum, s) => sum + s[c.index]!, 0));
    this.#chunks = chunks;
    return chunks;
  }

  /** Chosen chunks as passages in document order, overlapping or adjacent ones merged. */
  #merge(chosen: TextChunk[], chosenBy: Map<number, Set<number>>): Passage[] {
    const sorted = [...chosen].sort((a, b) => a.start - b.start);
    const merged: Array<{ start: number; end: number; fields: Set<number> }> = [];
    for (const c of sorted) {
      const last = merged.at(-1);
      const by = chosenBy.get(c.index) ?? new Set<number>();
      if (last && (c.start <= last.end || this.#doc.text.slice(last.end, c.start).trim() === '')) {
        last.end = Math.max(last.end, c.end);
        for (const f of by) last.fields.add(f);
      } else {
        merged.push({ start: c.start, end: c.end, fields: new Set(by) });
      }
    }
    return merged.map((m) => ({
      start: m.start,
      end: m.end,
      pageStart: pageAt(this.#doc, m.start),
      pageEnd: pageAt(this.#doc, Math.max(m.start, m.end - 1)),
      fields: [...m.fields].sort((a, b) => a - b).map((f) => this.#fields[f]!.name),
    }));
  }
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
function scoreChunks(chunks: TextChunk[], keywords: Keyword[]): number[] {
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

function isStartField(field: PassageField): boolean {
  return START_WORDS.test(words(field.name).join(' ')) || START_WORDS.test(field.description?.toLowerCase() ?? '');
}

/** The text of `ranges` of the document as a model reads it: each page's part after its `[page N]` label. */
export function labelled(doc: DocumentText, ranges: ReadonlyArray<{ start: number; end: number }>): string {
  const { text, pageStarts } = doc;
  return ranges
    .map(({ start, end }) => {
      let out = `[page ${pageAt(doc, start)}]\n`;
      let pos = start;
      for (const [k, p] of pageStarts.entries()) {
        if (p <= start || p >= end) continue;
        out += `${text.slice(pos, p).trimEnd()}\n[page ${k + 1}]\n`;
        pos = p;
      }
      return out + text.slice(pos, end);
    })
    .join('\n\n');
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, x));
}
