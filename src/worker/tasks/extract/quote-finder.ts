/**
 * Finds a verbatim supporting quote (e.g. one a model cites for an extracted field) in a document's text.
 *
 * Text extracted from a PDF and the same passage as a model repeats it differ in ways that do not change
 * the words: line breaks and runs of spaces, words hyphenated across a line ("termi-\nnation"), soft
 * hyphens, curly vs straight quotes, en/em dashes vs hyphens, ligatures ("ﬁ"), full-width forms, case.
 * Both sides are therefore compared in a normalised form that
 *
 * - drops whitespace of every kind (so re-wrapping and spaces PDF extraction adds or loses never matter),
 * - drops hyphens and dashes (so "termi-\nnation", "termination", "non-compete" and "non‑\ncompete" meet),
 * - drops invisible format characters (soft hyphen, zero-width spaces, BOM) and control characters,
 * - maps curly/angled/prime quotes to `'` and `"`,
 * - decomposes compatibility characters (NFKD: ligatures, full-width letters, NBSP) and lower-cases.
 *
 * The mapping is per character, never context-dependent, so a passage of the text normalises to exactly a
 * substring of the normalised text: a quote is found wherever its words are, whatever the layout. Word
 * boundaries do not count ("the rapist" would find "therapist"), which is why quotes shorter than
 * {@link MIN_QUOTE_CHARS} significant characters are refused as too weak to ground anything.
 */

/** Quotes with fewer significant (normalised) characters than this are not looked up. */
export const MIN_QUOTE_CHARS = 8;

export interface QuoteMatch {
  /** Offsets into the original text: `text.slice(start, end)` is the matched passage. */
  start: number;
  end: number;
}

// eslint-disable-next-line @typescript-eslint/no-misused-spread -- sets of code points, which is what spreading gives
const SINGLE_QUOTES = new Set([...'\u2018\u2019\u201A\u201B\u2032\u2035\u2039\u203A\u0060\u00B4\u02BC\u02B9\uFF07']);
// eslint-disable-next-line @typescript-eslint/no-misused-spread -- likewise
const DOUBLE_QUOTES = new Set([...'\u201C\u201D\u201E\u201F\u2033\u2036\u00AB\u00BB\u301D\u301E\u301F\uFF02']);
/** Dropped: whitespace, dash punctuation, the minus sign, format characters (soft hyphen, ZWSP, BOM…), controls. */
const IGNORED = /[\s\p{Z}\p{Pd}\u2212\p{Cf}\p{Cc}]/u;
/** ASCII, which is nearly all of most contracts, by table: controls, space and '-' dropped, letters lower-cased. */
const ASCII = Array.from({ length: 128 }, (_, code) => {
  const c = String.fromCharCode(code);
  if (code <= 0x20 || code === 0x7f || c === '-') return '';
  return c === '`' ? "'" : c.toLowerCase();
});

/** The normalised form of one code point: zero or more characters. */
function normalizeCodePoint(cp: string): string {
  const code = cp.charCodeAt(0);
  if (code < 128) return ASCII[code]!;
  if (SINGLE_QUOTES.has(cp)) return "'";
  if (DOUBLE_QUOTES.has(cp)) return '"';
  if (IGNORED.test(cp)) return '';
  const decomposed = cp.normalize('NFKD').toLowerCase();
  if (decomposed.length === 1 && !IGNORED.test(decomposed)) return decomposed;
  // A decomposition can itself hold spaces or dashes (e.g. U+00A8 → " ̈", U+FE63 → "-"): filter them too.
  let out = '';
  for (const c of decomposed) {
    if (SINGLE_QUOTES.has(c)) out += "'";
    else if (DOUBLE_QUOTES.has(c)) out += '"';
    else if (!IGNORED.test(c)) out += c;
  }
  return out;
}

/** The comparison form of a string (what {@link QuoteIndex} matches on). */
export function normalizeForQuote(s: string): string {
  let out = '';
  for (const cp of s) out += normalizeCodePoint(cp);
  return out;
}

/**
 * A document's text normalised once, with a map from each normalised character back to the original
 * character it came from, so that any number of quotes can be looked up with one string search each.
 */
export class QuoteIndex {
  /** The normalised text. */
  readonly normalized: string;
  /** For each UTF-16 unit of `normalized`: where its source character starts / ends in the original. */
  private readonly origStart: Int32Array;
  private readonly origEnd: Int32Array;

  constructor(readonly text: string) {
    const parts: string[] = [];
    // The normalised text is almost never longer than the original (only ligatures and the like expand).
    let starts: Int32Array = new Int32Array(text.length + 16);
    let ends: Int32Array = new Int32Array(text.length + 16);
    let n = 0;
    let offset = 0;
    for (const cp of text) {
      const norm = normalizeCodePoint(cp);
      if (norm.length > 0) {
        if (n + norm.length > starts.length) {
          const size = Math.max(starts.length * 2, n + norm.length);
          starts = grow(starts, size);
          ends = grow(ends, size);
        }
        for (let k = 0; k < norm.length; k++, n++) {
          starts[n] = offset;
          ends[n] = offset + cp.length;
        }
        parts.push(norm);
      }
      offset += cp.length;
    }
    this.normalized = parts.join('');
    this.origStart = starts.subarray(0, n);
    this.origEnd = ends.subarray(0, n);
  }

  /**
   * The first place the quote occurs, as offsets into the original text; undefined when it does not occur,
   * or when it is empty, blank or shorter than {@link MIN_QUOTE_CHARS} significant characters. The match
   * starts and ends on significant characters (never on surrounding whitespace).
   */
  find(quote: string): QuoteMatch | undefined {
    const q = significant(quote);
    if (q === undefined) return undefined;
    const at = this.normalized.indexOf(q);
    return at < 0 ? undefined : this.match(at, q.length);
  }

  /** Every non-overlapping place the quote occurs, in text order (same rules as {@link find}). */
  findAll(quote: string): QuoteMatch[] {
    const q = significant(quote);
    if (q === undefined) return [];
    const out: QuoteMatch[] = [];
    for (let at = this.normalized.indexOf(q); at >= 0; at = this.normalized.indexOf(q, at + q.length)) {
      out.push(this.match(at, q.length));
    }
    return out;
  }

  private match(at: number, length: number): QuoteMatch {
    return { start: this.origStart[at]!, end: this.origEnd[at + length - 1]! };
  }
}

/** Locates `quote` in `text` (see {@link QuoteIndex}; build one index instead when checking many quotes). */
export function findQuote(text: string, quote: string): QuoteMatch | undefined {
  return new QuoteIndex(text).find(quote);
}

function significant(quote: string): string | undefined {
  const q = normalizeForQuote(quote);
  let chars = 0;
  for (const _ of q) if (++chars >= MIN_QUOTE_CHARS) return q;
  return undefined;
}

function grow(a: Int32Array, size: number): Int32Array {
  const b = new Int32Array(size);
  b.set(a);
  return b;
}
