/**
 * Small models decoding greedily fall into loops: the same sentence (or clause) again and again until maxTokens.
 * A repeated sentence adds nothing to a summary, so generation stops at the first one and the text is cut there.
 */

/** Sentences shorter than this (in normalised characters) may repeat once legitimately ("Yes."); a third time is a loop. */
const MIN_SENTENCE_CHARS = 16;
/** A list marker at the start of a sentence: "(iv)", "3.", "D-12" differ while the loop goes on. */
const LIST_MARKER = /^\s*(\([0-9a-z]{1,6}\)|[0-9a-z]{1,6}[.)]|[a-z]?-\d+)\s+/i;

/**
 * Offset in `text` where the first complete sentence that repeats an earlier one begins, or undefined. Sentences
 * end at . ! ? or a line break; they are compared without a leading list marker, case, punctuation, whitespace
 * and the values of numbers. A short one ("Yes.") may occur twice.
 */
export function repeatedSentenceAt(text: string): number | undefined {
  const seen = new Map<string, number>();
  for (const m of text.matchAll(/[^.!?\n]*[.!?\n]/g)) {
    // Numbers are masked, so "D-1", "D-2", … or "(iv) The Parties agree", "(v) The Parties agree" are one sentence.
    const key = masked(m[0].replace(LIST_MARKER, '')) || masked(m[0]);
    if (key === '') continue;
    const times = (seen.get(key) ?? 0) + 1;
    if (times >= (key.length < MIN_SENTENCE_CHARS ? 3 : 2)) return m.index + (m[0].length - m[0].trimStart().length);
    seen.set(key, times);
  }
  return undefined;
}

function masked(sentence: string): string {
  return sentence
    .toLowerCase()
    .replace(/\d+/g, '#')
    .replace(/[^\p{L}#]+/gu, ' ')
    .trim();
}

/** `text` up to its first repeated sentence. */
export function withoutRepeats(text: string): string {
  const at = repeatedSentenceAt(text);
  return at === undefined ? text : text.slice(0, at).trimEnd();
}
