import type { Job } from 'bullmq';
import { categoryOf, isPermanent, PermanentError } from '../shared/errors.js';
import type { JobData, JobResult } from '../shared/job-types.js';
import type { Logger } from '../shared/logger.js';
import type { ResultStore } from '../shared/result-store.js';
import type { LoadedDocument } from './document-loader.js';
import type { ModelHost } from './model-host.js';
import type { WorkerMetrics } from './worker-metrics.js';

export interface ProcessorDeps {
  host: ModelHost;
  store: ResultStore;
  metrics: WorkerMetrics;
  log: Logger;
  /** Reads the document's text (off the main thread for PDFs). */
  load: (job: JobData, signal: AbortSignal) => Promise<LoadedDocument>;
}

/**
 * The work of one job: read the document, run the task on the held model, store the result.
 * A permanent failure, or the last attempt of a transient one, is stored as a categorised error
 * so that every document of a batch ends with exactly one outcome.
 */
export function createProcessor(deps: ProcessorDeps) {
  const { host, store, metrics, log } = deps;
  return async (job: Job<JobData>, _token: string | undefined, signal?: AbortSignal): Promise<{ stored: true }> => {
    const started = Date.now();
    const data = job.data;
    const fields = { batch: data.batchId, job: job.id, document: data.doc.name, task: data.task, queue: job.queueName };
    if ((await store.batch(data.batchId))?.cancelled) {
      await store.saveCancelled(job.id!, data);
      log.info({ ...fields, outcome: 'cancelled' }, 'job skipped: batch cancelled');
      return { stored: true };
    }
    metrics.jobStarted({ queue: job.queueName, task: data.task, waitSeconds: (started - job.timestamp) / 1000 });
    log.info({ ...fields, attempt: job.attemptsMade + 1 }, 'job started');
    try {
      if (data.params.model && data.params.model !== host.modelName) {
        // Queues are per role and tag, not per model: a fleet runs one model per role.
        throw new PermanentError('bad-params', `job expects model "${data.params.model}" but this worker holds "${host.modelName}"`);
      }
      const abort = signal ?? new AbortController().signal;
      const loaded = await deps.load(data, abort);
      const run = await host.runTask(data, loaded.doc, abort);
      const totalMs = Date.now() - started;
      const result: JobResult = {
        task: data.task,
        model: host.modelName,
        tokensIn: run.tokensIn,
        tokensOut: run.tokensOut,
        pages: loaded.pages,
        chars: loaded.doc.text.length,
        timings: { fetchMs: loaded.fetchMs, parseMs: loaded.parseMs, inferMs: run.inferMs, totalMs },
        output: run.output,
      };
      await store.saveCompleted(job.id!, data, result);
      metrics.jobFinished({
        queue: job.queueName,
        task: data.task,
        outcome: 'completed',
        durationSeconds: totalMs / 1000,
        tokensIn: run.tokensIn,
        tokensOut: run.tokensOut,
        pages: loaded.pages,
      });
      log.info({ ...fields, outcome: 'completed', durationMs: totalMs, pages: loaded.pages, tokensIn: run.tokensIn, tokensOut: run.tokensOut }, 'job completed');
      return { stored: true };
    } catch (err) {
      const category = categoryOf(err);
      const message = (err as Error).message;
      const final = isPermanent(err) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (final) await store.saveFailed(job.id!, data, { category, message, attempts: job.attemptsMade + 1 });
      const outcome = final ? 'failed' : 'retried';
      metrics.jobFinished({ queue: job.queueName, task: data.task, outcome, reason: category, durationSeconds: (Date.now() - started) / 1000, tokensIn: 0, tokensOut: 0, pages: 0 });
      log.warn({ ...fields, outcome, reason: category, error: message, durationMs: Date.now() - started }, `job ${outcome}`);
      throw err;
    }
  };
}
