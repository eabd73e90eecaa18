import { z } from 'zod';

/** Parameters of an extraction; they change the output, so they are part of the job id. */
export const extractParams = z.object({
  /** A JSON Schema for the fields (defaults to the built-in contract schema). */
  schema: z
    .record(z.string(), z.unknown())
    .refine((s) => s.type === 'object' && typeof s.properties === 'object' && s.properties !== null, {
      error: 'the root must be {"type": "object", "properties": {...}}',
    })
    .optional(),
  /**
   * How values are found: `choose`, the model picks per field one of the sentences that rank best by the field's
   * keywords, which is the value (fields must be strings or lists of strings); `quote`, the model writes each value
   * with a verbatim quote. Unset means `choose` when every field of the schema is a string or a list of strings
   * (the contract schema is), else `quote`.
   */
  method: z.enum(['quote', 'choose']).optional(),
  /** Upper bound on generated tokens. */
  maxTokens: z.number().int().positive().optional(),
  /** The model (GGUF file name without .gguf) the result must come from; unset means whatever the fleet holds. */
  model: z.string().min(1).optional(),
});
export type ExtractParams = z.infer<typeof extractParams>;

/** One extracted value and what supports it (see {@link ExtractOutput.evidence}). */
export interface ExtractEvidence {
  /** JSON pointer (RFC 6901) of the value in `fields`: "/governing_law", or "/parties/2" for an item of a list field. */
  pointer: string;
  /** The value, as in `fields`. */
  value: unknown;
  /** The supporting text the model quoted for the value, as the model wrote it. */
  quote: string;
  /** The page the model said the quote is on; not checked, see `page`. */
  citedPage: number;
  /**
   * Whether the quote was found in the document text, tolerating differences in whitespace, hyphenation across
   * lines, quote and dash styles, ligatures and case (quote-finder.ts). Quotes of fewer than 8 letters are never found.
   */
  grounded: boolean;
  /** Grounded only: `text.slice(start, end)` of the document text is the passage the quote matched. */
  start?: number;
  end?: number;
  /** Grounded only: the 1-based page the matched passage starts on (which may differ from `citedPage`). */
  page?: number;
}

/** A passage of a long document that was given to the model (see {@link ExtractOutput.passages}). */
export interface ExtractPassage {
  /** [start, end) offsets into the document text. */
  start: number;
  end: number;
  /** 1-based pages of its first and last character. */
  pageStart: number;
  pageEnd: number;
  /** The fields this passage was chosen for (by keywords); empty when it only filled spare room. */
  fields: string[];
}

/**
 * What extract returns. Every value the model extracts comes with a verbatim quote and a page; the worker looks
 * each quote up in the whole document text. `fields` keeps every value, grounded or not, so that it stays valid
 * against the job's schema (a required field cannot simply be dropped); `ungrounded` says which values no quote
 * supports, and consumers that only want facts drop those.
 */
export interface ExtractOutput {
  /** The values, valid against the job's schema (params.schema or the built-in contract schema). */
  fields: Record<string, unknown>;
  /**
   * Per field of the schema, one entry per non-null value: a scalar field has at most one, a list field one per
   * item, in list order. A field that is null has none.
   */
  evidence: Record<string, ExtractEvidence[]>;
  /** Pointers into `fields` (as in {@link ExtractEvidence.pointer}) of the values whose quote is not in the document. */
  ungrounded: string[];
  /** True when the document did not fit the context and the model read only part of it (see `passages`). */
  truncated: boolean;
  /** Characters of the document the model actually read. */
  coveredChars: number;
  /**
   * Only when the document did not fit: the passages the model read, in document order — chosen per field by
   * keywords, the first page always among them for title, parties and dates.
   */
  passages?: ExtractPassage[];
}
