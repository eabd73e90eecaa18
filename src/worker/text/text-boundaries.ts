/**
 * Where whitespace and page starts in a document's text fall and what they separate (page, paragraph, heading,
 * sentence, line, word), so that the token chunker can cut at the strongest boundary within reach.
 */

/**
 * Where a cut lands, best first. A cut between chunks always falls in whitespace (or at a page start, or
 * inside an unbroken run that fits nowhere else); its level is what that whitespace separates.
 */
export const enum Level {
  Char = 0,
  Space = 1,
  Line = 2,
  Sentence = 3,
  Heading = 4,
  Paragraph = 5,
  Page = 6,
}

/** Calls `fn(a, b)` for each maximal whitespace run text[a, b) with `from <= a <= to`. */
export function forRuns(text: string, from: number, to: number, fn: (a: number, b: number) => void): void {
  let i = Math.max(0, from);
  // A run that began before `from` does not count.
  while (i <= to && isSpace(text, i) && isSpace(text, i - 1)) i++;
  while (i <= to && i < text.length) {
    if (!isSpace(text, i)) {
      i++;
      continue;
    }
    const a = i;
    while (isSpace(text, i)) i++;
    fn(a, i);
  }
}

/** Calls `fn(p)` for each page start with `from <= p <= to`, in order. */
export function forPageStarts(pageStarts: number[], from: number, to: number, fn: (p: number) => void): void {
  for (let k = lowerBound(pageStarts, from); k < pageStarts.length && pageStarts[k]! <= to; k++) fn(pageStarts[k]!);
}

/** First index of the ascending `xs` whose value is >= x. */
function lowerBound(xs: number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** What the whitespace text[a, b) separates. */
export function runLevel(text: string, pageStarts: number[], a: number, b: number): Level {
  const k = lowerBound(pageStarts, a);
  if (k < pageStarts.length && pageStarts[k]! <= b) return Level.Page;
  let newlines = 0;
  for (let i = a; i < b; i++) if (text.charCodeAt(i) === 10) newlines++;
  if (newlines >= 2) return Level.Paragraph;
  if (newlines >= 1 && isHeading(text, b)) return Level.Heading;
  if (endsSentence(text, a)) return Level.Sentence;
  return newlines >= 1 ? Level.Line : Level.Space;
}

const HEADING_WORD =
  /(?:article|section|clause|chapter|part|schedule|exhibit|annex|appendix)[^\S\n]+(?:\d|[ivxlc]+\b|[a-z]\b)/iy;
const HEADING_NUMBER =
  /(?:§[^\S\n]*\d|\d{1,3}(?:\.\d{1,3})*\.?[^\S\n]+[A-Z]|[IVX]{1,6}\.[^\S\n]+[A-Z]|\(?[a-z0-9]{1,3}\)[^\S\n]+\S)/y;
const HEADING_CAPS = /^[A-Z][A-Z0-9 ,;:&'’()/-]{3,79}$/;

/** Whether the line starting at `i` looks like a section heading (numbered, a keyword, or in capitals). */
function isHeading(text: string, i: number): boolean {
  HEADING_WORD.lastIndex = i;
  if (HEADING_WORD.test(text)) return true;
  HEADING_NUMBER.lastIndex = i;
  if (HEADING_NUMBER.test(text)) return true;
  const nl = text.indexOf('\n', i);
  const line = text.slice(i, nl < 0 ? Math.min(text.length, i + 81) : Math.min(nl, i + 81)).trimEnd();
  return HEADING_CAPS.test(line) && /[A-Z]{3}/.test(line);
}

/** Whether text[.., a) ends a sentence: . ! ? or …, optionally followed by a closing quote or bracket. */
function endsSentence(text: string, a: number): boolean {
  let i = a - 1;
  if (i >= 0 && `"')]”’»`.includes(text[i]!)) i--;
  return i >= 0 && '.!?…'.includes(text[i]!);
}

export function isSpace(text: string, i: number): boolean {
  if (i < 0 || i >= text.length) return false;
  const c = text.charCodeAt(i);
  return c === 32 || (c >= 9 && c <= 13) || (c > 127 && /\s/.test(text[i]!));
}

export function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text, i)) i++;
  return i;
}

export function trimEnd(text: string, start: number, end: number): number {
  while (end > start && isSpace(text, end - 1)) end--;
  return end;
}

export function isLowSurrogate(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c >= 0xdc00 && c <= 0xdfff;
}

/** `end`, moved back one if it would split a surrogate pair (unless that empties the chunk). */
export function codePointFloor(text: string, start: number, end: number): number {
  return end - 1 > start && isLowSurrogate(text, end) ? end - 1 : end;
}
