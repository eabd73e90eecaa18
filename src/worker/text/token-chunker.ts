import { pageAt, type DocumentText } from './document-text.js';
import {
  codePointFloor,
  forPageStarts,
  forRuns,
  isLowSurrogate,
  isSpace,
  Level,
  runLevel,
  skipSpace,
  trimEnd,
} from './text-boundaries.js';

/**
 * Splits a document into chunks measured in the tokens of the model that will read them.
 *
 * Pure: the tokenizer is injected (in a worker: `(t) => model.tokenize(t).length`), so the same code
 * serves generation (chunks sized by `chunkBudget`) and embedding (chunks sized by the input limit).
 */

export interface TextChunk {
  /** 0-based position in the document's chunk list. */
  index: number;
  /** [start, end) offsets into the document text: `doc.text.slice(start, end) === text`. */
  start: number;
  end: number;
  text: string;
  /** 1-based pages of the first and the last character. */
  pageStart: number;
  pageEnd: number;
  /** countTokens(text); never more than maxTokens. */
  tokens: number;
}

export interface ChunkOptions {
  /** Most tokens one chunk may have, as countTokens counts them. */
  maxTokens: number;
  /** Each chunk after the first starts up to this many tokens before the previous one ends (default 0). */
  overlapTokens?: number;
  /** Tokens of a piece of the document text; need not be additive (merges at the seams are fine). */
  countTokens: (text: string) => number;
}

/**
 * A chunk ends at the best cut in the last part of the longest prefix that fits: this share of it.
 * Wider windows respect structure more and make more, shorter chunks.
 */
const CUT_WINDOW = 0.5;
/** First guess of characters per token when probing how far a chunk can reach. */
const CHARS_PER_TOKEN_GUESS = 4;

/**
 * Chunks covering the whole text in order, each within `maxTokens`. Between consecutive chunks there is
 * only whitespace (or, with overlap, the next one starts inside the previous one). Each chunk ends at the
 * best boundary in the last half of the most it could hold — a page start, then a blank line, a section
 * heading, a sentence end, a line end, any whitespace — and an unbroken run longer than `maxTokens` is cut
 * at the longest prefix that fits. Chunks are trimmed of surrounding whitespace; an empty or blank text
 * has no chunks. countTokens is called O(log chunk length) times per chunk, on pieces about a chunk long.
 */
export function chunkDocument(doc: DocumentText, opts: ChunkOptions): TextChunk[] {
  const { maxTokens, countTokens } = opts;
  const overlapTokens = opts.overlapTokens ?? 0;
  if (!Number.isInteger(maxTokens) || maxTokens < 1)
    throw new RangeError(`maxTokens must be a positive integer; got ${maxTokens}`);
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens >= maxTokens) {
    throw new RangeError(
      `overlapTokens must be an integer from 0 to maxTokens - 1 (${maxTokens - 1}); got ${overlapTokens}`,
    );
  }
  const { text } = doc;
  const pageStarts = doc.pageStarts.filter((p) => p > 0 && p < text.length);
  const count = (start: number, end: number) => (end > start ? countTokens(text.slice(start, end)) : 0);

  const chunks: TextChunk[] = [];
  let start = skipSpace(text, 0);
  /** End of the previous chunk: the next one must reach past it. */
  let prevEnd = 0;
  while (start < text.length) {
    const cut = nextCut(text, pageStarts, start, prevEnd, maxTokens, count);
    chunks.push({
      index: chunks.length,
      start,
      end: cut.end,
      text: text.slice(start, cut.end),
      pageStart: pageAt(doc, start),
      pageEnd: pageAt(doc, cut.end - 1),
      tokens: cut.tokens,
    });
    const next = skipSpace(text, cut.end);
    if (next >= text.length) break;
    // Always forward: an overlapped start lies inside this chunk, after its start.
    start =
      (overlapTokens > 0 ? overlapStart(text, pageStarts, start, cut.end, overlapTokens, count) : undefined) ?? next;
    prevEnd = cut.end;
  }
  return chunks;
}

type Count = (start: number, end: number) => number;

/** Where the chunk starting at `start` ends (trimmed) and its tokens. */
function nextCut(
  text: string,
  pageStarts: number[],
  start: number,
  prevEnd: number,
  maxTokens: number,
  count: Count,
): { end: number; tokens: number } {
  // Grow a probe until it no longer fits (or the rest of the text fits), then search: `lo` always fits.
  let lo = start;
  let nLo = 0;
  let probe = Math.min(text.length, start + Math.max(16, maxTokens * CHARS_PER_TOKEN_GUESS));
  let n: number;
  while ((n = count(start, probe)) <= maxTokens) {
    if (probe === text.length) {
      const end = trimEnd(text, start, text.length);
      return { end, tokens: end === text.length ? n : count(start, end) };
    }
    lo = probe;
    nLo = n;
    probe = Math.min(text.length, start + 2 * (probe - start));
  }
  let hi = probe;
  let nHi = n;
  for (;;) {
    // The longest prefix that fits; end at the best boundary in its last part.
    const longest = searchLast(lo, nLo, hi, nHi, maxTokens, (end) => count(start, end));
    const reach = longest.x;
    const floor = Math.max(prevEnd, start + Math.floor((reach - start) * (1 - CUT_WINDOW)));
    // No boundary there: any whitespace before cutting into a word; a word longer than a chunk is cut.
    const end =
      bestCutBefore(text, pageStarts, start, floor, reach) ??
      bestCutBefore(text, pageStarts, start, Math.max(prevEnd, start), reach) ??
      codePointFloor(text, start, reach);
    if (end <= start) {
      throw new RangeError(`maxTokens ${maxTokens} cannot hold even the first character at offset ${start}`);
    }
    const tokens = end === reach ? longest.fx : count(start, end);
    if (tokens <= maxTokens) return { end, tokens };
    // Token counts are not strictly monotone in the prefix: search again below the cut that failed.
    lo = start;
    nLo = 0;
    hi = end;
    nHi = tokens;
  }
}

/**
 * The largest x in [lo, hi) with f(x) <= limit, given f(lo) = fLo <= limit < f(hi) = fHi and f about
 * proportional to x (tokens of a growing piece of text): interpolation steps, with a bisection step after
 * any step that did not halve the interval, so O(log(hi - lo)) calls at worst and a few in practice.
 */
function searchLast(
  lo: number,
  fLo: number,
  hi: number,
  fHi: number,
  limit: number,
  f: (x: number) => number,
): { x: number; fx: number } {
  let bisect = false;
  while (hi - lo > 1) {
    const width = hi - lo;
    const guess =
      bisect || fHi <= fLo ? lo + (width >> 1) : lo + Math.round((width * (limit + 0.5 - fLo)) / (fHi - fLo));
    const mid = Math.min(hi - 1, Math.max(lo + 1, guess));
    const v = f(mid);
    if (v <= limit) {
      lo = mid;
      fLo = v;
    } else {
      hi = mid;
      fHi = v;
    }
    bisect = !bisect && hi - lo > width / 2;
  }
  return { x: lo, fx: fLo };
}

/**
 * The trimmed end of the best cut whose chunk [start, end) ends after `floor` and at or before `reach`:
 * highest level first, then the latest. Undefined when the window has no whitespace and no page start.
 */
function bestCutBefore(
  text: string,
  pageStarts: number[],
  start: number,
  floor: number,
  reach: number,
): number | undefined {
  let best: number | undefined;
  let bestLevel = Level.Char;
  const consider = (end: number, level: Level) => {
    if (end > floor && end > start && end <= reach && level >= bestLevel) {
      best = end;
      bestLevel = level;
    }
  };
  // Whitespace runs starting in (floor, reach]: the chunk ends where the run starts.
  forRuns(text, floor + 1, reach, (a, b) => consider(a, runLevel(text, pageStarts, a, b)));
  // Page starts inside a word (text with no separator between pages).
  forPageStarts(pageStarts, floor + 1, reach, (p) => {
    if (!isSpace(text, p - 1) && !isSpace(text, p)) consider(p, Level.Page);
  });
  return best;
}

/**
 * Where the next chunk starts when it overlaps the chunk [start, end): at a word start in (start, end)
 * from which text[.., end) has at most `overlapTokens` tokens — the best boundary in the first half of
 * that range, highest level first, then the earliest. Inside an unbroken run that was cut because it was
 * too long, wherever the budget allows. Undefined when nothing fits.
 */
function overlapStart(
  text: string,
  pageStarts: number[],
  start: number,
  end: number,
  overlapTokens: number,
  count: Count,
): number | undefined {
  // Grow a window back from `end` until it no longer fits, then search for the widest that does.
  const tail = (width: number) => count(end - width, end);
  let lo = 0;
  let nLo = 0;
  let width = Math.min(end - start - 1, Math.max(8, overlapTokens * CHARS_PER_TOKEN_GUESS));
  let n: number;
  while (width > lo && (n = tail(width)) <= overlapTokens) {
    lo = width;
    nLo = n;
    width = Math.min(end - start - 1, width * 2);
  }
  const widest = width > lo ? searchLast(lo, nLo, width, n!, overlapTokens, tail).x : lo;
  const earliest = end - widest;
  if (earliest >= end) return undefined;
  const latest = earliest + Math.floor((end - earliest) / 2);
  let best: number | undefined;
  let bestLevel = Level.Char;
  let firstLate: number | undefined;
  const consider = (from: number, level: Level) => {
    if (from < earliest || from >= end) return;
    if (from > latest) firstLate ??= from;
    else if (best === undefined || level > bestLevel) {
      best = from;
      bestLevel = level;
    }
  };
  forRuns(text, trimEnd(text, start, earliest), end - 1, (a, b) => consider(b, runLevel(text, pageStarts, a, b)));
  forPageStarts(pageStarts, earliest, latest, (p) => {
    if (!isSpace(text, p - 1) && !isSpace(text, p)) consider(p, Level.Page);
  });
  if (best !== undefined || firstLate !== undefined) return best ?? firstLate;
  // No word start: overlap only into a run that goes on past `end` (an over-long run cut to fit).
  if (isSpace(text, end) || end >= text.length) return undefined;
  const q = isLowSurrogate(text, earliest) ? earliest + 1 : earliest;
  return q < end ? q : undefined;
}
