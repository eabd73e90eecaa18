/**
 * Small models decoding greedily fall into loops: the same sentence (or clause) again and again until maxTokens.
 * A repeat adds nothing to a summary, so generation stops at the first one and the text is cut there.
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

/** Phrases up to this many words are looked for repeating back to back. */
const MAX_PHRASE_WORDS = 40;
/** A phrase this long repeated once back to back is a loop; a shorter one must come three times in a row. */
const LONG_PHRASE_WORDS = 8;

/**
 * Offset in `text` where a phrase that repeats back to back first repeats, or undefined: the loops that never end
 * a sentence ("including legal services, including legal services, …") or that break their sentence over lines
 * at different places. Words are compared without case and punctuation; numbers count, so a table of figures is
 * not a loop.
 */
export function repeatedPhraseAt(text: string): number | undefined {
  const words = [...text.matchAll(/\S+/g)].map((m) => ({
    key: m[0].toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ''),
    at: m.index,
  }));
  for (let i = 0; i < words.length; i++) {
    for (let k = 2; k <= MAX_PHRASE_WORDS; k++) {
      const times = k >= LONG_PHRASE_WORDS ? 2 : 3;
      if (i + times * k > words.length) break;
      let same = true;
      for (let t = 1; t < times && same; t++) {
        for (let j = 0; j < k && same; j++) same = words[i + j]!.key === words[i + t * k + j]!.key;
      }
      if (same) return words[i + k]!.at;
    }
  }
  return undefined;
}

/** Where a loop begins: the first repeated sentence or back-to-back repeated phrase, whichever comes first. */
export function loopAt(text: string): number | undefined {
  const found = [repeatedSentenceAt(text), repeatedPhraseAt(text)].filter((n) => n !== undefined);
  return found.length > 0 ? Math.min(...found) : undefined;
}

/** `text` up to where it starts looping. */
export function withoutRepeats(text: string): string {
  const at = loopAt(text);
  return at === undefined ? text : text.slice(0, at).trimEnd();
}
