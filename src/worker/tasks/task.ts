import type { FlowProducer, Job } from 'bullmq';
import type { z } from 'zod';
import type { JobData, PartSummary } from '../../shared/job-types.js';
import type { ModelRole, TaskName, TaskOutputs, TaskParamsOf } from '../../shared/tasks/task-catalog.js';
import type { TaskResult } from '../model/generation.js';
import type { ModelHost } from '../model/model-host.js';
import type { LoadedDocument } from '../text/document-loader.js';
import type { DocumentText } from '../text/document-text.js';

/**
 * One task a worker can run. Each task folder exports one of these and `task-registry.ts` lists them: the
 * processor and the runner know tasks only through this interface.
 */
export interface Task<N extends TaskName = TaskName> {
  readonly name: N;
  /** The kind of model the task needs (from the shared catalog). */
  readonly role: ModelRole;
  /** The task's parameters (from the shared catalog): checked at submit and again before each run. */
  readonly params: z.ZodType<TaskParamsOf<N>>;
  /** The task's work on one text with the held model. */
  run(input: RunInput<N>): Promise<TaskResult<TaskOutputs[N]>>;
  /**
   * For a task that splits long documents into part jobs (summarize): takes the job over when it is a part, a
   * woken parent or a document too long for one run, and answers undefined for a job that is one run.
   */
  planParts?(ctx: JobContext<N>): Promise<JobOutcome<N> | undefined>;
}

/** What one run of a task gets. */
export interface RunInput<N extends TaskName> {
  host: ModelHost;
  doc: DocumentText;
  params: TaskParamsOf<N>;
  /** The job, for a task whose parts travel in it. */
  data: JobData;
  signal?: AbortSignal;
}

/** What a run cost, besides its output. */
export interface RunCost {
  tokensIn: number;
  tokensOut: number;
  inferMs: number;
  /** From the start of the inference to its first output token, where the task measures it. */
  firstTokenMs?: number;
}

/** A task's output paired with its task's name, so that a result built from it needs no cast. */
export type TaskRun<N extends TaskName = TaskName> = { [K in N]: { task: K; output: TaskOutputs[K] } }[N] & RunCost;

/** What the processor gives with a job: its lock, its reading of the document, its log. */
export interface JobInput {
  token: string | undefined;
  signal: AbortSignal;
  /** When the processor took the job (ms since the epoch). */
  started: number;
  /** The job's document; reading it began while the processor looked at the batch. */
  document(): Promise<LoadedDocument>;
  /** Adds child jobs; absent on a worker without flows. */
  flows?: FlowProducer;
  /** Logs a line about the job; the processor adds the job's own fields. */
  note(fields: Record<string, unknown>, message: string): void;
}

/** A job as the runner hands it to its task. */
export interface JobContext<N extends TaskName = TaskName> extends JobInput {
  job: Job<JobData>;
  params: TaskParamsOf<N>;
  host: ModelHost;
  /** Runs the job's task on a text in one of the worker's slots; `data` may be a part the job derives. */
  run(data: JobData, doc: DocumentText): Promise<TaskRun<N>>;
}

/** The document figures a job's result reports. */
export interface DocFigures {
  pages: number;
  chars: number;
  fetchMs: number;
  parseMs: number;
  /** When the document's work began. */
  since: number;
  /** Pages parsed in this run (a woken flow parent or a part parses none). */
  parsedNow: number;
}

/** Where a job stands after its run. */
export type JobOutcome<N extends TaskName = TaskName> =
  | {
      waiting: true;
      /** Pages parsed in this run. */
      pages: number;
      /** What the log line of a waiting job adds. */
      log: Record<string, unknown>;
    }
  | {
      waiting: false;
      run: TaskRun<N>;
      doc: DocFigures;
      /** Tokens of earlier runs (a flow's parts) that belong to this document's result. */
      earlier?: { tokensIn: number; tokensOut: number };
      /** Set on a part of another job: handed to BullMQ for the parent instead of stored as a result. */
      forParent?: PartSummary;
    };
