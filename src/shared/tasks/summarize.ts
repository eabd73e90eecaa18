import { z } from 'zod';

/** Parameters of a summary; they change the output, so they are part of the job id. */
export const summarizeParams = z.object({
  /** Upper bound on generated tokens. */
  maxTokens: z.number().int().positive().optional(),
  /**
   * A document longer than one context is summarised part by part through a BullMQ flow and the part summaries
   * combined (map-reduce). `false` summarises only the start that fits one context.
   * @defaultValue true
   */
  mapReduce: z.boolean().optional(),
  /**
   * Tokens each chunk of a map-reduce summary repeats from the end of the one before (default 1/32 of a chunk,
   * so a sentence cut at a seam is read whole once).
   */
  chunkOverlapTokens: z.number().int().nonnegative().optional(),
  /**
   * What a long document's part and combine prompts ask the model to keep: `contract` the parties, the governing
   * law, dates and the term; `document` what it is about and its key points, for anything that is not a contract.
   * @defaultValue 'contract'
   */
  focus: z.enum(['contract', 'document']).optional(),
  /** The model (GGUF file name without .gguf) the result must come from; unset means whatever the fleet holds. */
  model: z.string().min(1).optional(),
});
export type SummarizeParams = z.infer<typeof summarizeParams>;

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
  /**
   * A combining part planned before its inputs exist: its text and sources are the summaries of its this many
   * child jobs, read when they are all done.
   */
  gathers?: number;
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
