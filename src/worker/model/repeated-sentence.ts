/**
 * Small models decoding greedily fall into loops: the same sentence (or clause) again and again until maxTokens.
 * A repeated sentence adds nothing to a summary, so generation stops at the first one and the text is cut there.
 */

/** Sentences shorter than this (in normalised characters) may repeat legitimately ("Yes.", list labels). */
const MIN_SENTENCE_CHARS = 16;

/**
 * Offset in `text` where the first complete sentence that repeats an earlier one begins, or undefined. Sentences
 * end at . ! ? or a line break; they are compared without case, punctuation and runs of whitespace.
 */
export function repeatedSentenceAt(text: string): number | undefined {
  const seen = new Set<string>();
  for (const m of text.matchAll(/[^.!?\n]*[.!?\n]/g)) {
    const key = m[0]
      .toLowerCase()
      .replace(/[^\p{L}\p{N}]+/gu, ' ')
      .trim();
    if (key.length < MIN_SENTENCE_CHARS) continue;
    if (seen.has(key)) return m.index + (m[0].length - m[0].trimStart().length);
    seen.add(key);
  }
  return undefined;
}

/** `text` up to its first repeated sentence. */
export function withoutRepeats(text: string): string {
  const at = repeatedSentenceAt(text);
  return at === undefined ? text : text.slice(0, at).trimEnd();
}
