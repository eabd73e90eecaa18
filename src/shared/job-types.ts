import type { EmbedParams } from './tasks/embed.js';
import type { ExtractParams } from './tasks/extract.js';
import type { SummarizeParams, SummaryFlowState, SummaryPart } from './tasks/summarize.js';
import type { TaskName, TaskOutputs } from './tasks/task-catalog.js';

export { TASKS, type TaskName } from './tasks/task-catalog.js';
export type { EmbeddingChunk, EmbedOutput } from './tasks/embed.js';
export type { ExtractEvidence, ExtractOutput, ExtractPassage } from './tasks/extract.js';
export type { PartSummary, SummarizeOutput, SummaryFlowState, SummaryPart, SummarySource } from './tasks/summarize.js';

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

/**
 * Task parameters as a submission sets them: one set for every task of a batch, each task reading its own
 * (their schemas and meaning are in tasks/). They are part of the job id.
 */
export type TaskParams = SummarizeParams & ExtractParams & EmbedParams;

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

/** Time spent in each stage of a job, milliseconds. */
export interface Timings {
  fetchMs: number;
  parseMs: number;
  inferMs: number;
  totalMs: number;
  /**
   * From the start of the inference to its first output token: mostly the prompt's evaluation. Set by the
   * generating tasks that produce one answer (summarize).
   */
  firstTokenMs?: number;
}

interface ResultBase {
  model: string;
  tokensIn: number;
  tokensOut: number;
  pages: number;
  chars: number;
  timings: Timings;
}

/** A task's name with its output: the part of a result that tells the tasks apart. */
export type TaskOutputPair = { [N in TaskName]: { task: N; output: TaskOutputs[N] } }[TaskName];
/** A job's result: what every task reports, and the task's own output, told apart by `task`. */
export type JobResult = ResultBase & TaskOutputPair;
