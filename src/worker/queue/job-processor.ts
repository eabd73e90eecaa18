import { WaitingChildrenError, type Job } from 'bullmq';
import { categoryOf, isPermanent, PermanentError } from '../../shared/errors.js';
import type { JobData, JobResult, PartSummary, SummarizeOutput, SummaryFlowState } from '../../shared/job-types.js';
import type { Logger } from '../../shared/logger.js';
import type { ResultStore } from '../../shared/result-store.js';
import type { LoadedDocument } from '../text/document-loader.js';
import type { ModelHost, TaskRun } from '../model/model-host.js';
import type { SummaryFlow } from '../tasks/summarize/summary-flow.js';
import { planSummary } from '../tasks/summarize/summarize.js';
import type { WorkerMetrics } from '../worker-metrics.js';

export interface ProcessorDeps {
  host: ModelHost;
  store: ResultStore;
  metrics: WorkerMetrics;
  log: Logger;
  /**
   * Reads the document's text (off the main thread for PDFs), if it lies under the directories its batch was
   * submitted from (`batchRoots`, read from Redis meanwhile) and where the worker may read.
   */
  load: (
    job: JobData,
    signal: AbortSignal,
    batchRoots: Promise<readonly string[] | undefined>,
  ) => Promise<LoadedDocument>;
  /** Map-reduce summaries of long documents; without it they are summarised from their start. */
  flow?: SummaryFlow;
}

/** What a processor hands BullMQ: documents' results go to the store; a flow's part goes to its parent. */
export type ProcessorReturn = { stored: true } | PartSummary | { cancelled: true };

/**
 * The work of one job: read the document, run the task on the held model, store the result.
 * A permanent failure, or the last attempt of a transient one, is stored as a categorised error
 * so that every document of a batch ends with exactly one outcome.
 */
export function createProcessor(deps: ProcessorDeps) {
  const { host, store, metrics, log } = deps;
  return async (job: Job<JobData>, token: string | undefined, signal?: AbortSignal): Promise<ProcessorReturn> => {
    const started = Date.now();
    const data = job.data;
    // What the result store keeps of the job: its flow's progress is the worker's business.
    const record: JobData = { ...data, flow: undefined };
    const fields = {
      batch: data.batchId,
      job: job.id,
      document: data.doc.name,
      task: data.task,
      queue: job.queueName,
      ...partFields(data),
    };
    // The document is read while Redis answers whether the batch was cancelled: the job's sequence stands
    // idle until both are done. A cancelled batch's document is read for nothing, which is rare.
    const skip = new AbortController();
    const abort = signal ? AbortSignal.any([signal, skip.signal]) : skip.signal;
    const reading = store.batch(data.batchId);
    const loading =
      data.part || data.flow
        ? undefined
        : deps.load(
            data,
            abort,
            reading.then((b) => b?.roots),
          );
    loading?.catch(() => undefined);
    const batch = await reading.catch((err: unknown) => {
      skip.abort(err);
      throw err;
    });
    if (batch?.cancelled) {
      skip.abort(new Error('batch cancelled'));
      // A flow's part has no result of its own: its parent, woken once the parts are done, records the cancel.
      if (data.part) return { cancelled: true };
      await store.saveCancelled(job.id!, record);
      log.info({ ...fields, outcome: 'cancelled' }, 'job skipped: batch cancelled');
      return { stored: true };
    }
    metrics.jobStarted({ queue: job.queueName, task: data.task, waitSeconds: (started - job.timestamp) / 1000 });
    log.info({ ...fields, attempt: job.attemptsMade + 1 }, 'job started');
    try {
      if (data.params.model && data.params.model !== host.modelName) {
        // Queues are per role and tag, not per model: a fleet runs one model per role.
        throw new PermanentError(
          'bad-params',
          `job expects model "${data.params.model}" but this worker holds "${host.modelName}"`,
        );
      }
      if (data.part) {
        const run = await host.runTask(data, { text: data.part.text, pageStarts: [0] }, abort);
        const output = run.output as SummarizeOutput;
        const { round, level, index } = data.part;
        const durationSeconds = (Date.now() - started) / 1000;
        metrics.jobFinished({
          queue: job.queueName,
          task: data.task,
          outcome: 'completed',
          part: true,
          durationSeconds,
          tokensIn: run.tokensIn,
          tokensOut: run.tokensOut,
          pages: 0,
        });
        log.info(
          {
            ...fields,
            outcome: 'completed',
            durationMs: Date.now() - started,
            tokensIn: run.tokensIn,
            tokensOut: run.tokensOut,
          },
          'job completed',
        );
        return {
          round,
          level,
          index,
          summary: output.summary,
          sources: output.sources,
          truncated: output.truncated,
          tokensIn: run.tokensIn,
          tokensOut: run.tokensOut,
        };
      }

      let state = data.flow;
      let loaded: LoadedDocument | undefined;
      if (!state) {
        loaded = await loading!;
        const env = data.task === 'summarize' && deps.flow ? host.planEnv : undefined;
        const plan = env && planSummary(env, loaded.doc, data.params);
        if (plan) {
          state = await deps.flow!.start(job, loaded, plan);
          log.info(
            { ...fields, parts: state.parts, pages: state.pages },
            'document too long for one context: summarising it as a flow',
          );
        }
      }
      let run: TaskRun;
      let doc: DocFigures;
      /** Tokens of a flow's parts: already counted by the parts' own metrics, but the document's to report. */
      let partTokens = { tokensIn: 0, tokensOut: 0 };
      if (state) {
        const step = await deps.flow!.advance(job, token!, state, abort);
        if (step.waiting) {
          metrics.jobFinished({
            queue: job.queueName,
            task: data.task,
            outcome: 'waiting',
            durationSeconds: (Date.now() - started) / 1000,
            tokensIn: 0,
            tokensOut: 0,
            pages: loaded?.pages ?? 0,
          });
          log.info(
            { ...fields, outcome: 'waiting', parts: step.parts, level: step.level },
            'job waiting for its parts',
          );
          throw new WaitingChildrenError();
        }
        run = step.run;
        // Pages were counted when the flow started; the document's latency is the whole flow's.
        doc = { ...flowDoc(step.state), parsedNow: 0 };
        partTokens = step.state;
      } else {
        run = await host.runTask(data, loaded!.doc, abort);
        doc = {
          pages: loaded!.pages,
          chars: loaded!.doc.text.length,
          fetchMs: loaded!.fetchMs,
          parseMs: loaded!.parseMs,
          since: started,
          parsedNow: loaded!.pages,
        };
      }
      const totalMs = Date.now() - doc.since;
      metrics.jobFinished({
        queue: job.queueName,
        task: data.task,
        outcome: 'completed',
        durationSeconds: totalMs / 1000,
        tokensIn: run.tokensIn,
        tokensOut: run.tokensOut,
        pages: doc.parsedNow,
      });
      const tokensIn = run.tokensIn + partTokens.tokensIn;
      const tokensOut = run.tokensOut + partTokens.tokensOut;
      const result: JobResult = {
        task: data.task,
        model: host.modelName,
        tokensIn,
        tokensOut,
        pages: doc.pages,
        chars: doc.chars,
        timings: { fetchMs: doc.fetchMs, parseMs: doc.parseMs, inferMs: run.inferMs, totalMs },
        output: run.output,
      };
      await store.saveCompleted(job.id!, record, result);
      log.info(
        { ...fields, outcome: 'completed', durationMs: totalMs, pages: doc.pages, tokensIn, tokensOut },
        'job completed',
      );
      return { stored: true };
    } catch (err) {
      if (err instanceof WaitingChildrenError) throw err;
      const category = categoryOf(err);
      const message = (err as Error).message;
      const final = isPermanent(err) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (final && !data.part)
        await store.saveFailed(job.id!, record, { category, message, attempts: job.attemptsMade + 1 });
      const outcome = final ? 'failed' : 'retried';
      metrics.jobFinished({
        queue: job.queueName,
        task: data.task,
        outcome,
        reason: category,
        part: !!data.part,
        durationSeconds: (Date.now() - started) / 1000,
        tokensIn: 0,
        tokensOut: 0,
        pages: 0,
      });
      log.warn(
        { ...fields, outcome, reason: category, error: message, durationMs: Date.now() - started },
        `job ${outcome}`,
      );
      throw err;
    }
  };
}

function partFields(data: JobData) {
  if (!data.part) return {};
  const { level, index, sources } = data.part;
  return { part: index, level, pageStart: sources[0]?.pageStart, pageEnd: sources.at(-1)?.pageEnd };
}

interface DocFigures {
  pages: number;
  chars: number;
  fetchMs: number;
  parseMs: number;
  /** When the document's work began. */
  since: number;
  /** Pages parsed in this run (a woken flow parent parses none). */
  parsedNow: number;
}

/** A flow's document figures come from its first run; its time from then to now. */
function flowDoc(state: SummaryFlowState) {
  return {
    pages: state.pages,
    chars: state.chars,
    fetchMs: state.fetchMs,
    parseMs: state.parseMs,
    since: state.startedAt,
  };
}
