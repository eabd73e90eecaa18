import { pageAt, type DocumentText } from '../../text/document-text.js';
import { chunkDocument, type TextChunk } from '../../text/token-chunker.js';
import { CONTRACT_KEYWORDS, isStartField, keywordsFor, scoreChunks } from './field-keywords.js';

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
 * A chunk is a candidate for a field when it scores at least this share of the field's best chunk: weaker ones
 * (a word of the description in passing) only fill spare room, so they neither take a field's turn nor count
 * as chosen for it.
 */
const RELEVANT_SHARE = 0.3;
const MIN_CHUNK_TOKENS = 32;
const MAX_CHUNK_TOKENS = 512;

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
