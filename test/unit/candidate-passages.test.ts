import { describe, expect, it } from 'vitest';
import { docOf, words } from '../helpers/documents.js';
import {
  CandidatePassages,
  labelled,
  type PassageSelection,
} from '../../src/worker/tasks/extract/candidate-passages.js';
import { keywordsFor } from '../../src/worker/tasks/extract/field-keywords.js';
import { pageAt, type DocumentText } from '../../src/worker/text/document-text.js';
import { CONTRACT_SCHEMA } from '../../src/worker/tasks/extract/contract-schema.js';

/** Neutral contract prose: none of the contract fields' keywords. */
const filler = (n: number, tag: string) =>
  Array.from(
    { length: n },
    (_, i) => `The supplier ships the goods in batch ${tag}${i} and the buyer pays the invoice promptly.`,
  ).join(' ');

const FIELDS = Object.entries(CONTRACT_SCHEMA.properties).map(([name, s]) => ({ name, description: s.description }));

const PAGES = Array.from({ length: 30 }, (_, i) => `${filler(6, `p${i + 1}x`)}\n\n${filler(6, `p${i + 1}y`)}`);
PAGES[0] =
  'MASTER SUPPLY AGREEMENT\n\nThis Master Supply Agreement is made and entered into as of March 3, 2019 by and between Acme, Inc. and Widget LLC.\n\n' +
  filler(8, 'p1');
PAGES[16] = `${filler(4, 'p17a')}\n\n19. Governing Law. This Agreement shall be governed by and construed in accordance with the laws of the State of Delaware.\n\n${filler(4, 'p17b')}`;
PAGES[24] = `${filler(4, 'p25a')}\n\n4. Term. This Agreement shall automatically renew for successive one-year terms unless either party gives ninety days prior written notice of non-renewal.\n\n${filler(4, 'p25b')}`;
const DOC = docOf(PAGES);

/** Every property a selection must have. */
function expectWellFormed(doc: DocumentText, sel: PassageSelection, budget: number): void {
  expect(sel.tokens).toBe(words(sel.text));
  expect(sel.tokens).toBeLessThanOrEqual(budget);
  let prevEnd = -1;
  let chars = 0;
  for (const p of sel.passages) {
    expect(p.start).toBeGreaterThan(prevEnd);
    // Apart: passages separated by nothing but whitespace would have been merged.
    if (prevEnd >= 0) expect(doc.text.slice(prevEnd, p.start).trim()).not.toBe('');
    expect(p.pageStart).toBe(pageAt(doc, p.start));
    expect(p.pageEnd).toBe(pageAt(doc, p.end - 1));
    // The model reads the passage's text under its page label (labels split it at page starts).
    expect(sel.text).toContain(`[page ${p.pageStart}]\n${doc.text.slice(p.start, p.end).split('\n')[0]}`);
    prevEnd = p.end;
    chars += p.end - p.start;
  }
  expect(sel.coveredChars).toBe(chars);
}

describe('CandidatePassages', () => {
  it('gives a document that fits whole, every page after its label', () => {
    const doc = docOf(['Title page.', 'Second page text.', 'Third.']);
    const sel = new CandidatePassages(doc, FIELDS, { countTokens: words }).select(100);
    expect(sel).toMatchObject({
      whole: true,
      coveredChars: doc.text.length,
      passages: [{ start: 0, end: doc.text.length, pageStart: 1, pageEnd: 3 }],
    });
    expect(sel.text).toBe('[page 1]\nTitle page.\n[page 2]\nSecond page text.\n[page 3]\nThird.');
  });

  it('picks the first page and the clauses that state each field, in document order, within the budget', () => {
    const budget = 200;
    const candidates = new CandidatePassages(DOC, FIELDS, { countTokens: words });
    const sel = candidates.select(budget);
    expect(sel.whole).toBe(false);
    expectWellFormed(DOC, sel, budget);
    expect(sel.coveredChars).toBeLessThan(DOC.text.length / 4);
    // The start: title, parties and dates.
    const first = sel.passages[0]!;
    expect(first.start).toBe(0);
    expect(first.fields).toEqual(expect.arrayContaining(['document_name', 'parties', 'agreement_date']));
    // Late clauses a prefix would never reach, each chosen for its field.
    const holding = (words: string) => sel.passages.find((p) => DOC.text.slice(p.start, p.end).includes(words));
    const law = holding('governed by and construed');
    expect(law?.pageStart).toBe(17);
    expect(law?.fields).toEqual(expect.arrayContaining(['governing_law']));
    const renewal = holding('automatically renew');
    expect(renewal?.pageStart).toBe(25);
    expect(renewal?.fields).toEqual(expect.arrayContaining(['renewal_term', 'notice_period_to_terminate_renewal']));
    expect(sel.text).toMatch(/\[page 17\]\n[^[]*governed by and construed/);
    expect(candidates.ranking!.governing_law![0]).toBe(
      candidates.chunks!.find((c) => c.text.includes('governed by'))!.index,
    );
  });

  it('lets no field crowd out another: a keyword said everywhere still leaves room for a rare one', () => {
    const pages = Array.from(
      { length: 20 },
      (_, i) =>
        `Written notice ${i}: any notice shall be given by prior written notice to the other party. ${filler(3, `n${i}`)}`,
    );
    pages[15] = `This Agreement is governed by the laws of England. ${filler(3, 'law')}`;
    const doc = docOf(pages);
    const sel = new CandidatePassages(doc, FIELDS, { countTokens: words, chunkTokens: 40 }).select(130);
    expectWellFormed(doc, sel, 130);
    expect(sel.passages.some((p) => doc.text.slice(p.start, p.end).includes('governed by the laws of England'))).toBe(
      true,
    );
  });

  it('selects from the same chunks again when the budget shrinks, and fits the smaller budget', () => {
    const candidates = new CandidatePassages(DOC, FIELDS, { countTokens: words });
    const big = candidates.select(300);
    const chunks = candidates.chunks;
    const small = candidates.select(120);
    expect(candidates.chunks).toBe(chunks);
    expectWellFormed(DOC, small, 120);
    expect(small.coveredChars).toBeLessThan(big.coveredChars);
    expect(small.passages[0]!.start).toBe(0);
  });

  it('still fits when tokens are not additive (a counter that charges every call)', () => {
    const seams = (t: string) => words(t) + 3;
    const sel = new CandidatePassages(DOC, FIELDS, { countTokens: seams }).select(150);
    expect(sel.tokens).toBe(seams(sel.text));
    expect(sel.tokens).toBeLessThanOrEqual(150);
    expect(sel.passages.length).toBeGreaterThan(0);
  });

  it("uses a user field's own name and description as keywords", () => {
    const pages = Array.from({ length: 12 }, (_, i) => filler(10, `u${i}`));
    pages[9] = `${filler(2, 'w')} The warranty period is twelve months from delivery. ${filler(2, 'z')}`;
    const doc = docOf(pages);
    const sel = new CandidatePassages(doc, [{ name: 'warrantyPeriod', description: 'how long the warranty lasts' }], {
      countTokens: words,
      chunkTokens: 30,
    }).select(60);
    expect(sel.passages.find((p) => p.fields.includes('warrantyPeriod'))).toMatchObject({ pageStart: 10 });
  });
});

describe('keywordsFor and labelled', () => {
  it('matches words as prefixes and phrases across line breaks and hyphens', () => {
    const hits = (field: string, text: string) =>
      keywordsFor({ name: field })
        .map((k) => text.match(k.pattern)?.length ?? 0)
        .reduce((a, b) => a + b, 0);
    expect(hits('renewal_term', 'It renews automatically.')).toBeGreaterThan(0);
    expect(hits('governing_law', 'shall be governed\nby the LAWS OF Ohio')).toBeGreaterThanOrEqual(2);
    expect(hits('governing_law', 'the buyer pays promptly')).toBe(0);
    // A phrase must end on a word boundary: "as of" is not "as often".
    expect(hits('agreement_date', 'as often as needed')).toBe(0);
  });

  it('labels each page inside a range, keeping the text between labels verbatim', () => {
    const doc = docOf(['one two', 'three four', 'five']);
    expect(labelled(doc, [{ start: 4, end: 13 }])).toBe('[page 1]\ntwo\n[page 2]\nthree');
    expect(
      labelled(doc, [
        { start: 0, end: 3 },
        { start: 19, end: 23 },
      ]),
    ).toBe('[page 1]\none\n\n[page 3]\nfive');
  });
});
