import type { DocumentText } from '../../src/worker/text/document-text.js';

/** One token per word: a tokenizer for modules that never need a model. */
export const words = (t: string) => (t.match(/\S+/g) ?? []).length;

/** A document from its pages, joined by a newline as the loader does. */
export function docOf(pages: string[]): DocumentText {
  const pageStarts: number[] = [];
  let text = '';
  for (const page of pages) {
    if (pageStarts.length > 0) text += '\n';
    pageStarts.push(text.length);
    text += page;
  }
  return { text, pageStarts };
}
