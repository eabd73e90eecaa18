import { describe, expect, it } from 'vitest';
import { docOf, words } from '../helpers/documents.js';
import { PermanentError } from '../../src/shared/errors.js';
import { pageAt, type DocumentText } from '../../src/worker/text/document-text.js';
import { chunkBudget, safetyMargin } from '../../src/worker/text/chunk-budget.js';
import { chunkDocument, type TextChunk } from '../../src/worker/text/token-chunker.js';

/** One token per started 5 characters of each word, so a long word is many tokens. */
const pieces = (t: string) => (t.match(/\S+/g) ?? []).reduce((n, w) => n + Math.ceil(w.length / 5), 0);

const sentence = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}w${i}`).join(' ') + '.';

/** Every property a chunk list must have, whatever the text and the tokenizer. */
function expectWellFormed(
  doc: DocumentText,
  chunks: TextChunk[],
  maxTokens: number,
  count: (t: string) => number,
): void {
  const { text } = doc;
  const trimmed = text.trim();
  if (trimmed === '') {
    expect(chunks).toEqual([]);
    return;
  }
  expect(chunks[0]!.start).toBe(text.length - text.trimStart().length);
  expect(chunks.at(-1)!.end).toBe(text.trimEnd().length);
  chunks.forEach((c, i) => {
    expect(c.index).toBe(i);
    expect(text.slice(c.start, c.end)).toBe(c.text);
    expect(c.text.length).toBeGreaterThan(0);
    expect(c.text.trim()).toBe(c.text);
    expect(c.tokens).toBe(count(c.text));
    expect(c.tokens).toBeLessThanOrEqual(maxTokens);
    expect(c.pageStart).toBe(pageAt(doc, c.start));
    expect(c.pageEnd).toBe(pageAt(doc, c.end - 1));
    const prev = chunks[i - 1];
    if (prev) {
      expect(c.start).toBeGreaterThan(prev.start);
      expect(c.end).toBeGreaterThan(prev.end);
      // Nothing but whitespace is left out between chunks.
      if (c.start >= prev.end) expect(text.slice(prev.end, c.start).trim()).toBe('');
    }
  });
}

describe('chunkDocument', () => {
  it('gives no chunks for an empty or blank text', () => {
    expect(chunkDocument({ text: '', pageStarts: [0] }, { maxTokens: 10, countTokens: words })).toEqual([]);
    expect(chunkDocument(docOf([' \n\n\t ', '  ']), { maxTokens: 10, countTokens: words })).toEqual([]);
  });

  it('keeps a text that fits as one trimmed chunk with its offsets and pages', () => {
    const doc = docOf(['  \nHello there.', 'General Kenobi. \n']);
    const chunks = chunkDocument(doc, { maxTokens: 10, countTokens: words });
    expect(chunks).toEqual([
      {
        index: 0,
        start: 3,
        end: doc.text.length - 2,
        text: 'Hello there.\nGeneral Kenobi.',
        pageStart: 1,
        pageEnd: 2,
        tokens: 4,
      },
    ]);
  });

  it('prefers a page start to a later paragraph break', () => {
    // Page 1 has 30 words in three paragraphs, page 2 as many; 40 tokens reach into page 2's second paragraph.
    const page = (p: number) => [sentence(9, `p${p}a`), sentence(9, `p${p}b`), sentence(9, `p${p}c`)].join('\n\n');
    const doc = docOf([page(1), page(2), page(3)]);
    const chunks = chunkDocument(doc, { maxTokens: 40, countTokens: words });
    expectWellFormed(doc, chunks, 40, words);
    expect(chunks.map((c) => [c.pageStart, c.pageEnd, c.tokens])).toEqual([
      [1, 1, 27],
      [2, 2, 27],
      [3, 3, 27],
    ]);
  });

  it('prefers blank-line paragraphs to sentence ends and sentence ends to other whitespace', () => {
    // Paragraphs of three 4-word sentences: 30 tokens hold two whole paragraphs and half of the third.
    const paragraphs = Array.from({ length: 10 }, (_, p) => [0, 1, 2].map((s) => sentence(4, `p${p}s${s}`)).join(' '));
    const doc = docOf([paragraphs.join('\n\n')]);
    const chunks = chunkDocument(doc, { maxTokens: 30, countTokens: words });
    expectWellFormed(doc, chunks, 30, words);
    expect(chunks.map((c) => c.tokens)).toEqual([24, 24, 24, 24, 24]);
    for (const c of chunks.slice(0, -1)) expect(doc.text.slice(c.end, c.end + 2)).toBe('\n\n');

    // One long paragraph of 6-word sentences: 20 tokens hold three sentences and two words.
    const prose = docOf([Array.from({ length: 20 }, (_, i) => sentence(6, `s${i}`)).join(' ')]);
    const sentences = chunkDocument(prose, { maxTokens: 20, countTokens: words });
    expectWellFormed(prose, sentences, 20, words);
    expect(sentences.map((c) => c.tokens)).toEqual([18, 18, 18, 18, 18, 18, 12]);
    for (const c of sentences) expect(c.text.endsWith('.')).toBe(true);
  });

  it('breaks before a section heading rather than at a plain line end', () => {
    // Lines of 5 words with no sentence ends; a heading every 4 lines.
    const lines: string[] = [];
    for (let s = 1; s <= 6; s++) {
      lines.push(`${s}. Heading number ${s} here`);
      for (let l = 0; l < 3; l++) lines.push(`plain line ${s} ${l} words`);
    }
    const doc = docOf([lines.join('\n')]);
    const chunks = chunkDocument(doc, { maxTokens: 33, countTokens: words });
    expectWellFormed(doc, chunks, 33, words);
    for (const c of chunks) expect(c.text).toMatch(/^\d\. Heading/);
    expect(chunks.map((c) => c.tokens)).toEqual([20, 20, 20, 20, 20, 20]);
  });

  it('overlaps the next chunk with the end of the previous one, from a boundary', () => {
    const doc = docOf([Array.from({ length: 30 }, (_, i) => sentence(2 + (i % 4), `s${i}`)).join(' ')]);
    const chunks = chunkDocument(doc, { maxTokens: 20, overlapTokens: 6, countTokens: words });
    expectWellFormed(doc, chunks, 20, words);
    expect(chunks.length).toBeGreaterThan(5);
    for (let i = 1; i < chunks.length; i++) {
      const prev = chunks[i - 1]!;
      const c = chunks[i]!;
      expect(c.start).toBeLessThan(prev.end);
      const shared = doc.text.slice(c.start, prev.end);
      expect(words(shared)).toBeGreaterThan(0);
      expect(words(shared)).toBeLessThanOrEqual(6);
      // At a sentence start whenever one is close enough: here one always is.
      expect(doc.text[c.start - 1]).toBe(' ');
      expect(doc.text[c.start - 2]).toBe('.');
    }
    const plain = chunkDocument(doc, { maxTokens: 20, countTokens: words });
    expect(chunks.length).toBeGreaterThan(plain.length);
  });

  it('splits an over-long unbroken run at the longest prefix that fits', () => {
    const run = 'x'.repeat(123);
    const doc = docOf([`Intro words here. ${run} and an ending.`]);
    const chunks = chunkDocument(doc, { maxTokens: 10, countTokens: pieces });
    expectWellFormed(doc, chunks, 10, pieces);
    expect(chunks.map((c) => c.text)).toEqual([
      'Intro words here.',
      'x'.repeat(50),
      'x'.repeat(50),
      'x'.repeat(23) + ' and an ending.',
    ]);

    // With overlap, the run's chunks overlap inside it too.
    const overlapped = chunkDocument(doc, { maxTokens: 10, overlapTokens: 2, countTokens: pieces });
    expectWellFormed(doc, overlapped, 10, pieces);
    expect(overlapped.length).toBeGreaterThan(chunks.length);
  });

  it('never splits a surrogate pair', () => {
    const doc = docOf(['😀'.repeat(40)]);
    const units = (t: string) => t.length;
    const chunks = chunkDocument(doc, { maxTokens: 5, countTokens: units });
    expectWellFormed(doc, chunks, 5, units);
    expect(chunks.map((c) => c.text.length)).toEqual(Array(20).fill(4));
  });

  it('reports pages for chunks that span them', () => {
    // Short pages: a page start is rarely late enough in a chunk to end it there.
    const doc = docOf(Array.from({ length: 12 }, (_, i) => `Page ${i} has five words`));
    const chunks = chunkDocument(doc, { maxTokens: 12, countTokens: words });
    expectWellFormed(doc, chunks, 12, words);
    expect(chunks.map((c) => [c.pageStart, c.pageEnd])).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
      [9, 10],
      [11, 12],
    ]);
  });

  it('calls the tokenizer O(log n) times per chunk, on pieces about a chunk long', () => {
    const page = (p: number) =>
      Array.from({ length: 20 }, (_, i) => sentence(5 + ((i * 7) % 11), `p${p}s${i}`)).join(p % 3 ? ' ' : '\n\n');
    const doc = docOf(Array.from({ length: 50 }, (_, p) => page(p)));
    let calls = 0;
    let chars = 0;
    const counting = (t: string) => {
      calls++;
      chars += t.length;
      return words(t);
    };
    const chunks = chunkDocument(doc, { maxTokens: 200, overlapTokens: 20, countTokens: counting });
    expectWellFormed(doc, chunks, 200, words);
    const perChunk = calls / chunks.length;
    expect(perChunk).toBeLessThan(3 * Math.log2(doc.text.length));
    expect(chars / doc.text.length).toBeLessThan(4 * perChunk);
  });

  it('keeps its promises on random texts, tokenizers and limits', () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const parts = ['word', 'x'.repeat(37), '. ', '\n', '\n\n', ' ', 'Section 4. Terms', '😀', '\t', 'ARTICLE IV', '!"'];
    const counters = [words, pieces, (t: string) => Math.ceil(t.length / 3), (t: string) => t.length + 1];
    for (let round = 0; round < 200; round++) {
      const pages = Array.from({ length: 1 + rand(5) }, () =>
        Array.from({ length: rand(80) }, () => parts[rand(parts.length)]!).join(rand(2) ? ' ' : ''),
      );
      const doc = docOf(pages);
      const count = counters[rand(counters.length)]!;
      const maxTokens = 4 + rand(60);
      const overlapTokens = rand(2) ? 0 : rand(maxTokens);
      const chunks = chunkDocument(doc, { maxTokens, overlapTokens, countTokens: count });
      expectWellFormed(doc, chunks, maxTokens, count);
    }
  });

  it('refuses limits it cannot keep', () => {
    const doc = docOf(['some text']);
    expect(() => chunkDocument(doc, { maxTokens: 0, countTokens: words })).toThrow(RangeError);
    expect(() => chunkDocument(doc, { maxTokens: 5, overlapTokens: 5, countTokens: words })).toThrow(RangeError);
    expect(() => chunkDocument(doc, { maxTokens: 5, overlapTokens: -1, countTokens: words })).toThrow(RangeError);
    // A tokenizer that adds a BOS token cannot fit one character into one token.
    expect(() => chunkDocument(doc, { maxTokens: 1, countTokens: (t) => t.length + 1 })).toThrow(
      /cannot hold even the first character/,
    );
  });
});

describe('chunkBudget', () => {
  it('is the context less prompt, output and a small margin', () => {
    expect(safetyMargin(2048)).toBe(32);
    expect(safetyMargin(100)).toBe(8);
    expect(chunkBudget(2048, 100, 256)).toBe(2048 - 100 - 256 - 32);
    expect(chunkBudget(8192, 0, 0)).toBe(8192 - 128);
  });

  it('fails as bad-params when nothing of the document would fit', () => {
    const fail = (() => {
      try {
        chunkBudget(512, 300, 204);
      } catch (err) {
        return err;
      }
    })();
    expect(fail).toBeInstanceOf(PermanentError);
    expect((fail as PermanentError).category).toBe('bad-params');
    expect(chunkBudget(512, 300, 203)).toBe(1);
    expect(() => chunkBudget(512, -1, 10)).toThrow(RangeError);
    expect(() => chunkBudget(512.5, 1, 10)).toThrow(RangeError);
  });
});
