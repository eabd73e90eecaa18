/** What a job asks of a worker. */
export const TASKS = ['summarize', 'extract', 'embed'] as const;
export type TaskName = (typeof TASKS)[number];

/** Where a job may run: `any` goes to whichever matching worker has a free slot. */
export const TAGS = ['gpu', 'cpu', 'any'] as const;
export type Tag = (typeof TAGS)[number];

/** A document as a job refers to it: never its bytes, only where to read them. */
export interface DocumentRef {
  /** Absolute path on a volume the workers share, or an http(s) URL. */
  uri: string;
  /** Display name (relative path or URL) used in results and logs. */
  name: string;
  /** sha256 of the document's bytes, hex. */
  sha256: string;
  bytes: number;
}

/** Task parameters that change the output; they are part of the job id. */
export interface TaskParams {
  /** extract: a JSON Schema for the fields (defaults to the built-in contract schema). */
  schema?: Record<string, unknown>;
  /** summarize/extract: upper bound on generated tokens. */
  maxTokens?: number;
  /**
   * summarize: a document longer than one context is summarised part by part through a BullMQ flow and the
   * part summaries combined (map-reduce). `false` summarises only the start that fits one context.
   * @defaultValue true
   */
  mapReduce?: boolean;
  /**
   * embed: most characters per chunk. Alone it keeps its old meaning (chunks of up to that many characters,
   * now also within the model's input limit); with chunkTokens both limits hold.
   */
  chunkChars?: number;
  /** embed: most tokens per chunk, by the embedding model's own tokenizer (default 256; capped by its input limit). */
  chunkTokens?: number;
  /**
   * embed, and the chunks of a map-reduce summary: tokens each chunk repeats from the end of the one before
   * (embed default 0; summary default 1/32 of a chunk, so a sentence cut at a seam is read whole once).
   */
  chunkOverlapTokens?: number;
  /**
   * The model (GGUF file name without .gguf) the results must come from; unset means whatever the fleet
   * holds. Part of the job id, so switching models and resubmitting creates new jobs.
   */
  model?: string;
}

export interface JobData {
  batchId: string;
  doc: DocumentRef;
  task: TaskName;
  params: TaskParams;
  /** Set on the child jobs of a summary flow: the piece of text that child summarises. */
  part?: SummaryPart;
  /** Set by a worker on a document whose summary became a flow: where the flow stands. */
  flow?: SummaryFlowState;
}

/** A range of the document a summary drew on. */
export interface SummarySource {
  /** 0-based chunk of the document. */
  chunk: number;
  /** [start, end) offsets into the document text that the model read. */
  start: number;
  end: number;
  pageStart: number;
  pageEnd: number;
}

/**
 * One child job of a summary flow. Its text travels in the job so that no worker parses the document
 * again: level 0 is a chunk of the document, higher levels are part summaries being combined.
 */
export interface SummaryPart {
  /** The fan-out this child belongs to; a parent reads only the children of its current round. */
  round: string;
  level: number;
  index: number;
  text: string;
  /** Output bound for this part's summary. */
  maxTokens: number;
  sources: SummarySource[];
  /** Whether a source of this part was not read in full by an earlier level. */
  truncated: boolean;
}

/** What a summary flow's child job returns to its parent. */
export interface PartSummary {
  round: string;
  level: number;
  index: number;
  summary: string;
  sources: SummarySource[];
  truncated: boolean;
  tokensIn: number;
  tokensOut: number;
}

/** Kept in the parent job's data between its runs, so a woken parent goes on where it stopped. */
export interface SummaryFlowState {
  round: string;
  level: number;
  /** Children in the current round. */
  parts: number;
  /** Chunks of the document (the map round). */
  chunks: number;
  pages: number;
  chars: number;
  fetchMs: number;
  parseMs: number;
  startedAt: number;
  /** Tokens spent by the rounds already collected. */
  tokensIn: number;
  tokensOut: number;
}

/** Time spent in each stage of a job, milliseconds. */
export interface Timings {
  fetchMs: number;
  parseMs: number;
  inferMs: number;
  totalMs: number;
}

interface ResultBase {
  task: TaskName;
  model: string;
  tokensIn: number;
  tokensOut: number;
  pages: number;
  chars: number;
  timings: Timings;
}

export interface SummarizeOutput {
  summary: string;
  /** True when the document did not fit the context and only its start was read. */
  truncated: boolean;
  /** Characters of the document the model actually read. */
  coveredChars: number;
  /** The chunks and pages the summary drew on. */
  sources: SummarySource[];
  /** Child jobs that summarised chunks (0 when the document fitted one context). */
  parts: number;
  /** Combining rounds after the chunk summaries (0 without a flow). */
  levels: number;
}

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

export interface EmbeddingChunk {
  /** Character range [start, end) into the document text. */
  start: number;
  end: number;
  /** 1-based page the chunk starts on (= pageStart; kept for readers of older results). */
  page: number;
  /** 1-based pages of the chunk's first and last character (absent in results stored before they existed). */
  pageStart?: number;
  pageEnd?: number;
  vector: Float32Array;
}

export interface EmbedOutput {
  dimensions: number;
  chunks: EmbeddingChunk[];
}

export type TaskOutput = SummarizeOutput | ExtractOutput | EmbedOutput;
export type JobResult = ResultBase & { output: TaskOutput };
