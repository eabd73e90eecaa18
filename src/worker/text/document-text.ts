/** The text of one document, with where each page starts so results can cite pages. */
export interface DocumentText {
  text: string;
  /** pageStarts[i] is the offset in `text` where page i+1 begins; ascending, first is 0. */
  pageStarts: number[];
}

/** 1-based page that holds the character at `offset`. */
export function pageAt(doc: DocumentText, offset: number): number {
  let lo = 0;
  let hi = doc.pageStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (doc.pageStarts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}
