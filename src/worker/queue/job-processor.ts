import { WaitingChildrenError, type FlowProducer, type Job } from 'bullmq';
import { categoryOf, isPermanent, type FailureCategory } from '../../shared/errors.js';
import type { JobData, JobResult, PartSummary } from '../../shared/job-types.js';
import type { Logger } from '../../shared/logger.js';
import type { ResultStore } from '../../shared/result-store.js';
import type { LoadedDocument } from '../text/document-loader.js';
import type { DocFigures, TaskRun } from '../tasks/task.js';
import type { TaskRunner } from '../tasks/task-runner.js';
import type { WorkerMetrics } from '../worker-metrics.js';
import type { RedisWriteWatch } from './redis-write-watch.js';
import { giveUpReason, handBack, JobGivenUpError, type GiveUpReason } from './queue-consumer.js';

export interface ProcessorDeps {
  runner: TaskRunner;
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
  /** Adds the part jobs of tasks that split long documents; without it such documents are run whole. */
  flows?: FlowProducer;
  /**
   * Whether the job's lock is still this worker's (renewing it). Asked right before an outcome is stored: a
   * worker that lost the lock (a Redis outage longer than the lock) must not record a job another worker runs.
   * Without it, outcomes are stored unchecked.
   */
  holdsLock?: (job: Job, token: string) => Promise<boolean>;
  /** Whether Redis accepts writes: an outcome Redis is too full to store is kept until it can be. */
  writes?: RedisWriteWatch;
}

/** What a processor hands BullMQ: documents' results go to the store; a flow's part goes to its parent. */
export type ProcessorReturn = { stored: true } | PartSummary | { cancelled: true };

/** How a job's run ended, for its metrics and its log line. */
interface Ending {
  outcome: 'completed' | 'waiting' | 'failed' | 'retried';
  reason?: FailureCategory;
  durationMs: number;
  tokensIn: number;
  tokensOut: number;
  pages: number;
}

/**
 * The work of one job: read the document, run the task on the held model, store the result — the same
 * path for every task, which may split a long document into part jobs on the way (see Task.planParts).
 * A permanent failure, or the last attempt of a transient one, is stored as a categorised error
 * so that every document of a batch ends with exactly one outcome.
 */
export function createProcessor(deps: ProcessorDeps) {
  const { runner, store, metrics, log } = deps;
  return async (job: Job<JobData>, token: string | undefined, signal?: AbortSignal): Promise<ProcessorReturn> => {
    const started = Date.now();
    const data = job.data;
    const part = !!data.part;
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
    const end = (e: Ending, logged: Record<string, unknown>, message: string) => {
      const { outcome, reason, durationMs, tokensIn, tokensOut, pages } = e;
      const durationSeconds = durationMs / 1000;
      const labels = { queue: job.queueName, task: data.task, outcome, reason, part };
      metrics.jobFinished({ ...labels, durationSeconds, tokensIn, tokensOut, pages });
      const line = { ...fields, outcome, ...logged };
      if (outcome === 'failed' || outcome === 'retried') log.warn(line, message);
      else log.info(line, message);
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
    /** This worker lets the job go without an outcome: whoever holds it now records one. */
    const givingUp = async (reason: GiveUpReason) => {
      metrics.jobFinished({ ...ended(job, started), outcome: 'retried', reason, part: !!data.part });
      log.warn({ ...fields, outcome: 'given-up', reason, durationMs: Date.now() - started }, 'job given up');
      if (reason === 'lock-lost') await handBack(job, token!);
      return new JobGivenUpError(reason);
    };
    metrics.jobStarted({ queue: job.queueName, task: data.task, waitSeconds: (started - job.timestamp) / 1000 });
    log.info({ ...fields, attempt: job.attemptsMade + 1 }, 'job started');
    try {
      const outcome = await runner.process(job, {
        token,
        signal: abort,
        started,
        document: () => loading ?? Promise.reject(new Error(`job ${job.id} carries no document to read`)),
        flows: deps.flows,
        note: (noted, message) => log.info({ ...fields, ...noted }, message),
      });
      if (outcome.waiting) {
        const waited = { durationMs: Date.now() - started, tokensIn: 0, tokensOut: 0, pages: outcome.pages };
        end({ outcome: 'waiting', ...waited }, outcome.log, 'job waiting for its parts');
        throw new WaitingChildrenError();
      }
      const { run, doc, earlier, forParent } = outcome;
      const durationMs = Date.now() - doc.since;
      // A document's result counts the tokens of its parts too; the metrics counted those as the parts ran.
      const tokensIn = run.tokensIn + (earlier?.tokensIn ?? 0);
      const tokensOut = run.tokensOut + (earlier?.tokensOut ?? 0);
      if (forParent) {
        if (!(await holdsLock(deps, job, token))) throw new JobGivenUpError('lock-lost');
      } else {
        const result = resultOf(run, doc, { model: runner.host.modelName, tokensIn, tokensOut, totalMs: durationMs });
        await storeUnderLock(deps, job, token, signal, () => store.saveCompleted(job.id!, record, result));
      }
      end(
        { outcome: 'completed', durationMs, tokensIn: run.tokensIn, tokensOut: run.tokensOut, pages: doc.parsedNow },
        forParent ? { durationMs, tokensIn, tokensOut } : { durationMs, pages: doc.pages, tokensIn, tokensOut },
        'job completed',
      );
      return forParent ?? { stored: true };
    } catch (err) {
      if (err instanceof WaitingChildrenError) throw err;
      const gaveUp = giveUpReason(err, signal);
      if (gaveUp) throw await givingUp(gaveUp);
      const category = categoryOf(err);
      const message = (err as Error).message;
      const final = isPermanent(err) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const attempts = job.attemptsMade + 1;
      if (final && !data.part) {
        const save = () => store.saveFailed(job.id!, record, { category, message, attempts });
        try {
          await storeUnderLock(deps, job, token, signal, save);
        } catch (e) {
          const reason = giveUpReason(e, signal);
          throw reason ? await givingUp(reason) : e;
        }
      }
      // BullMQ can only schedule the retry once Redis takes writes again.
      if (category === 'redis-unavailable' && deps.writes?.report(err)) await deps.writes.writable(signal);
      const outcome = final ? 'failed' : 'retried';
      const durationMs = Date.now() - started;
      end(
        { outcome, reason: category, durationMs, tokensIn: 0, tokensOut: 0, pages: 0 },
        { reason: category, error: message, durationMs },
        `job ${outcome}`,
      );
      throw err;
    }
  };
}

/** Stores an outcome under the job's lock. A full Redis is waited for, so the work done is not lost. */
async function storeUnderLock(
  deps: ProcessorDeps,
  job: Job,
  token: string | undefined,
  signal: AbortSignal | undefined,
  save: () => Promise<unknown>,
): Promise<void> {
  for (;;) {
    try {
      if (!(await holdsLock(deps, job, token))) throw new JobGivenUpError('lock-lost');
      await save();
      return;
    } catch (err) {
      if (!deps.writes?.report(err) || signal?.aborted) throw err;
      await deps.writes.writable(signal);
    }
  }
}

async function holdsLock(deps: ProcessorDeps, job: Job, token: string | undefined): Promise<boolean> {
  return !deps.holdsLock || (await deps.holdsLock(job, token!));
}

/** The figures of an attempt that ends without output. */
function ended(job: Job<JobData>, started: number) {
  return {
    queue: job.queueName,
    task: job.data.task,
    durationSeconds: (Date.now() - started) / 1000,
    tokensIn: 0,
    tokensOut: 0,
    pages: 0,
  };
}

function partFields(data: JobData) {
  if (!data.part) return {};
  const { level, index, sources } = data.part;
  return { part: index, level, pageStart: sources[0]?.pageStart, pageEnd: sources.at(-1)?.pageEnd };
}

/** The stored result: the task's output with what the job cost. */
function resultOf(
  run: TaskRun,
  doc: DocFigures,
  totals: { model: string; tokensIn: number; tokensOut: number; totalMs: number },
): JobResult {
  const { inferMs, firstTokenMs, tokensIn: _runIn, tokensOut: _runOut, ...output } = run;
  const { model, tokensIn, tokensOut, totalMs } = totals;
  return {
    model,
    tokensIn,
    tokensOut,
    pages: doc.pages,
    chars: doc.chars,
    timings: {
      fetchMs: doc.fetchMs,
      parseMs: doc.parseMs,
      inferMs,
      totalMs,
      ...(firstTokenMs === undefined ? {} : { firstTokenMs }),
    },
    ...output,
  };
}
