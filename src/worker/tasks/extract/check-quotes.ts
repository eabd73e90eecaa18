import type { ExtractEvidence } from '../../../shared/job-types.js';
import { pageAt, type DocumentText } from '../../text/document-text.js';
import { QuoteIndex, type QuoteMatch } from './quote-finder.js';
import type { Claim } from './grounded-schema.js';

/**
 * Checks the quote of every extracted value against the whole document text, not only what the model read:
 * a quote is grounded wherever it is in the document. Nothing here trusts the model's page: the page of a
 * grounded value is where its quote was found.
 */

export interface QuoteCheck {
  /** Per field (every field of `fieldNames`, in that order), one entry per claim. */
  evidence: Record<string, ExtractEvidence[]>;
  /** Pointers of the claims whose quote was not found, in claim order. */
  ungrounded: string[];
}

export interface CheckQuotesOptions {
  /** Every field of the job, so that fields without values still get an (empty) evidence list. */
  fieldNames: string[];
  /** An index of `doc.text` built earlier (building one normalises the whole text). */
  index?: QuoteIndex;
  /** What the model read: a quote that occurs several times is placed in these ranges when it can be. */
  passages?: ReadonlyArray<{ start: number; end: number }>;
}

/** Our own page labels (candidate-passages.ts): a model that copies one into a quote did not quote the document. */
const PAGE_LABELS = /\[page \d+\]/g;

export function checkQuotes(doc: DocumentText, claims: Claim[], opts: CheckQuotesOptions): QuoteCheck {
  const index = opts.index ?? new QuoteIndex(doc.text);
  const evidence: Record<string, ExtractEvidence[]> = Object.fromEntries(opts.fieldNames.map((f) => [f, []]));
  const ungrounded: string[] = [];
  for (const claim of claims) {
    const { pointer, value, quote, citedPage } = claim;
    const match = locate(doc, index, quote, citedPage, opts.passages ?? []);
    const entry: ExtractEvidence = match
      ? {
          pointer,
          value,
          quote,
          citedPage,
          grounded: true,
          start: match.start,
          end: match.end,
          page: pageAt(doc, match.start),
        }
      : { pointer, value, quote, citedPage, grounded: false };
    (evidence[claim.field] ??= []).push(entry);
    if (!match) ungrounded.push(pointer);
  }
  return { evidence, ungrounded };
}

/**
 * Where the quote is: of several occurrences, the first inside a passage the model read on the page it cited,
 * else inside a passage it read, else on the cited page, else the first.
 */
function locate(
  doc: DocumentText,
  index: QuoteIndex,
  quote: string,
  citedPage: number,
  passages: ReadonlyArray<{ start: number; end: number }>,
): QuoteMatch | undefined {
  let matches = index.findAll(quote);
  if (matches.length === 0 && quote.includes('[page ')) matches = index.findAll(quote.replace(PAGE_LABELS, ' '));
  if (matches.length <= 1) return matches[0];
  const read = (m: QuoteMatch) => passages.some((p) => m.start >= p.start && m.end <= p.end);
  const onPage = (m: QuoteMatch) => pageAt(doc, m.start) === citedPage;
  return matches.find((m) => read(m) && onPage(m)) ?? matches.find(read) ?? matches.find(onPage) ?? matches[0];
}
