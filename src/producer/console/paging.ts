/** A 1-based page number from a query parameter; anything else is the first page. */
export function pageNumber(raw: string | undefined): number {
  const n = Number(raw);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/** A 0-based position from a query parameter; anything else is the start. */
export function position(raw: string | undefined): number {
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}
