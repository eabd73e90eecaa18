import path from 'node:path';
import { statSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MiB } from '../../src/shared/config.js';
import { loadDocument } from '../../src/worker/text/document-loader.js';
import type { DocumentText } from '../../src/worker/text/document-text.js';
import {
  MIN_QUOTE_CHARS,
  QuoteIndex,
  findQuote,
  normalizeForQuote,
} from '../../src/worker/tasks/extract/quote-finder.js';
import { ROOT } from '../helpers/paths.js';

/** The passage findQuote matched, or undefined. */
function found(text: string, quote: string): string | undefined {
  const m = findQuote(text, quote);
  return m && text.slice(m.start, m.end);
}

describe('findQuote: hand cases', () => {
  it('finds an exact quote at its offsets', () => {
    const text = 'Preamble. The Provider shall deliver the Services on time. Signed.';
    const quote = 'The Provider shall deliver the Services';
    expect(findQuote(text, quote)).toEqual({ start: 10, end: 10 + quote.length });
  });

  it('ignores differences in whitespace: runs of spaces, newlines, tabs, NBSP, zero-width spaces', () => {
    const text = 'x\nthe   Services\n\tshall be\r\nperformed\u00A0in good\u200B faith.';
    expect(found(text, 'the Services shall be performed in good faith')).toBe(
      'the   Services\n\tshall be\r\nperformed\u00A0in good\u200B faith',
    );
    expect(found(text, '  the Services shall   be performed  ')).toBe('the   Services\n\tshall be\r\nperformed');
  });

  it('matches words hyphenated across a line break, and hyphenated words broken at the hyphen', () => {
    const text = 'Upon termi-\nnation of this Agreement, the non-\ncompete covenant survives.';
    expect(found(text, 'upon termination of this Agreement')).toBe('Upon termi-\nnation of this Agreement');
    expect(found(text, 'the non-compete covenant survives')).toBe('the non-\ncompete covenant survives');
    expect(found(text, 'the noncompete covenant')).toBe('the non-\ncompete covenant');
    // And the other way round: the quote is hyphenated, the text is not.
    expect(found('the termination fee is due', 'termi- nation fee is due')).toBe('termination fee is due');
  });

  it('ignores soft hyphens', () => {
    const text = 'A termi\u00ADnation fee of con\u00ADsiderable size applies.';
    expect(found(text, 'termination fee of considerable size')).toBe(
      'termi\u00ADnation fee of con\u00ADsiderable size',
    );
    expect(found('A termination fee applies.', 'termi\u00ADnation fee')).toBe('termination fee');
  });

  it('treats curly and straight quotes, and dashes, alike', () => {
    const curly = 'this “Agreement” and the Client’s data — pages 10–15';
    expect(found(curly, '"Agreement" and the Client\'s data - pages 10-15')).toBe(curly.slice(5));
    const straight = 'this "Agreement" and the Client\'s data -- pages 10-15';
    expect(found(straight, '“Agreement” and the Client’s data — pages 10—15')).toBe(straight.slice(5));
    expect(found('the ‘Term’ means', "the 'Term' means")).toBe('the ‘Term’ means');
  });

  it('treats ligatures as their letters, in the text and in the quote', () => {
    const text = 'the ﬁnal conﬂict notice is ﬁled';
    expect(found(text, 'the final conflict notice is filed')).toBe(text);
    expect(found('the final conflict notice', 'ﬁnal conﬂict notice')).toBe('final conflict notice');
    // A match starting inside a ligature starts at the ligature: offsets never split a character.
    expect(found('the ﬁnancial statements', 'inancial statements')).toBe('ﬁnancial statements');
  });

  it('ignores case, full-width forms and composed vs decomposed accents', () => {
    expect(found('Article 5 CONFIDENTIAL INFORMATION means', 'confidential information')).toBe(
      'CONFIDENTIAL INFORMATION',
    );
    expect(found('the ＰＲＯＶＩＤＥＲ shall', 'the provider shall')).toBe('the ＰＲＯＶＩＤＥＲ shall');
    expect(found('Société Générale SA', 'Socie\u0301te\u0301 Ge\u0301ne\u0301rale')).toBe('Société Générale');
    // Accents still count: a different letter is a different word.
    expect(findQuote('Société Générale SA', 'Societe Generale')).toBeUndefined();
  });

  it('keeps offsets right after characters outside the BMP', () => {
    const text = '😀😀 the Provider shall pay';
    expect(findQuote(text, 'the provider shall')).toEqual({ start: 5, end: 5 + 'the Provider shall'.length });
  });

  it('refuses empty, blank and too-short quotes', () => {
    const text = 'Client shall pay the fees. abcdefgh';
    expect(findQuote(text, '')).toBeUndefined();
    expect(findQuote(text, ' \n\t ')).toBeUndefined();
    expect(findQuote(text, '- — –')).toBeUndefined();
    expect(findQuote(text, 'Client')).toBeUndefined();
    expect(normalizeForQuote('a b c d e f g')).toHaveLength(MIN_QUOTE_CHARS - 1);
    expect(findQuote('a b c d e f g h', 'a b c d e f g')).toBeUndefined();
    expect(found('a b c d e f g h', 'a b c d e f g h')).toBe('a b c d e f g h');
    expect(found(text, 'abcdefgh')).toBe('abcdefgh');
  });

  it('returns undefined for a quote that is not in the text', () => {
    expect(
      findQuote('The Provider shall deliver the Services.', 'The Provider shall deliver the Goods'),
    ).toBeUndefined();
    expect(findQuote('', 'The Provider shall deliver')).toBeUndefined();
  });

  it('one index answers many quotes; findAll gives every occurrence', () => {
    const text = 'Each Party shall notify. Later, each party shall\nnotify again.';
    const index = new QuoteIndex(text);
    expect(index.find('each party shall notify')).toEqual({ start: 0, end: 23 });
    expect(index.findAll('each party shall notify').map((m) => text.slice(m.start, m.end))).toEqual([
      'Each Party shall notify',
      'each party shall\nnotify',
    ]);
    expect(index.findAll('nothing like this')).toEqual([]);
    expect(index.findAll('short')).toEqual([]);
  });
});

describe('QuoteIndex: text extracted from the sample PDFs', () => {
  const LIMITS = { maxBytes: 50 * MiB, maxPages: 2000, parseTimeoutMs: 20_000, parseMemoryMb: 256 };
  const PDFS = ['master-services-agreement.pdf', 'software-license-agreement.pdf', 'distribution-agreement.pdf'];
  const docs = new Map<string, DocumentText>();

  beforeAll(async () => {
    for (const file of PDFS) {
      const uri = path.join(ROOT, 'samples', file);
      const { doc } = await loadDocument({ uri, name: file, sha256: '', bytes: statSync(uri).size }, LIMITS);
      docs.set(file, doc);
    }
  });

  /** Windows of `size` words from the text, with the offsets of their first and last character. */
  function windows(
    text: string,
    from: number,
    to: number,
    size: number,
  ): { start: number; end: number; words: string[] }[] {
    const tokens = [...text.slice(from, to).matchAll(/\S+/g)].map((m) => ({ word: m[0], start: from + m.index }));
    const out = [];
    for (let i = 0; i + size <= tokens.length; i += 3) {
      const first = tokens[i]!;
      const last = tokens[i + size - 1]!;
      // Offsets of the match are those of its first and last significant characters: pick windows whose
      // ends are letters or digits so the expected offsets are simply the words'.
      if (!/^[\p{L}\p{N}]/u.test(first.word) || !/[\p{L}\p{N}]$/u.test(last.word)) continue;
      out.push({
        start: first.start,
        end: last.start + last.word.length,
        words: tokens.slice(i, i + size).map((t) => t.word),
      });
    }
    return out;
  }

  /** The passage re-wrapped at other places, a long word hyphenated across a line, typographic quotes/dashes. */
  function reworded(words: string[], variant: number): string {
    const w = words.map((word) =>
      word
        .replace(/'/g, '’')
        .replace(/"([^"]*)"/g, '“$1”')
        .replace(/"/g, '”')
        .replace(/-/g, '–'),
    );
    const longest = w.reduce((best, word, i) => (word.length > w[best]!.length ? i : best), 0);
    const word = w[longest]!;
    if (word.length >= 6) w[longest] = `${word.slice(0, 3)}-\n${word.slice(3)}`;
    const wrapped = w
      .map((word, i) => (i > 0 && i % (4 + variant) === 0 ? `\n${word}` : ` ${word}`))
      .join('')
      .trim();
    return variant % 2 === 0 ? wrapped.toUpperCase() : wrapped.replace(/ /g, '  ');
  }

  it.each(PDFS)('%s: quotes re-wrapped and hyphenated differently are found at their exact offsets', (file) => {
    const doc = docs.get(file)!;
    const index = new QuoteIndex(doc.text);
    // Page 2, and the whole text for passages that run over a page break.
    const page2 = windows(doc.text, doc.pageStarts[1]!, doc.pageStarts[2]!, 12);
    const all = windows(doc.text, 0, doc.text.length, 15);
    let checked = 0;
    for (const [n, w] of [...page2, ...all].entries()) {
      const original = doc.text.slice(w.start, w.end);
      // A passage the document holds twice would rightly be found at its first place: skip those.
      if (index.findAll(original).length !== 1) continue;
      const quote = reworded(w.words, n % 3);
      expect(quote).not.toBe(original);
      expect(index.find(quote), `${file}: ${JSON.stringify(quote)}`).toEqual({ start: w.start, end: w.end });
      checked++;
    }
    expect(checked).toBeGreaterThan(200);
  });

  it('does not find a quote with one word changed', () => {
    const doc = docs.get('master-services-agreement.pdf')!;
    const index = new QuoteIndex(doc.text);
    const passage = 'Client shall pay each undisputed invoice within thirty (30) days of receipt';
    expect(index.find(passage)).toBeDefined();
    expect(index.find(passage.replace('thirty', 'sixty'))).toBeUndefined();
    expect(index.find(passage.replace('undisputed', 'disputed'))).toBeUndefined();
  });
});
