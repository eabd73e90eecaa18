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
  /** embed: target chunk size in characters. */
  chunkChars?: number;
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
}

export interface ExtractOutput {
  fields: Record<string, unknown>;
  truncated: boolean;
  coveredChars: number;
}

export interface EmbeddingChunk {
  /** Character range [start, end) into the document text. */
  start: number;
  end: number;
  /** 1-based page the chunk starts on. */
  page: number;
  vector: Float32Array;
}

export interface EmbedOutput {
  dimensions: number;
  chunks: EmbeddingChunk[];
}

export type TaskOutput = SummarizeOutput | ExtractOutput | EmbedOutput;
export type JobResult = ResultBase & { output: TaskOutput };
