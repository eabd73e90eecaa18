import type { Job } from 'bullmq';
import type { BatchMeta, BatchSummary } from '../shared/batch-store.js';
import { UserError } from '../shared/errors.js';
import type { DocumentRef, JobData } from '../shared/job-types.js';
import { queuesForRole, roleForTask } from '../shared/queue-layout.js';
import type { StoredResult } from '../shared/result-store.js';
import { batchListing, type BatchListing } from './batch-listing.js';
import type { Producer } from './producer.js';
import { batchTaskLines, documentLines, type TaskLine } from './task-lines.js';

/** A batch's counts (one line per submitted document and task) and whether every line has its outcome. */
export type BatchStatus = BatchListing & { done: boolean };

/** One line of `docfleet results`: a finished job, or where an unfinished one stands. */
export type ResultLine =
  | (StoredResult & { batch: string })
  | { batch: string; jobId: string; status: 'waiting' | 'active' | 'delayed' | 'missing'; job?: JobData };

export class BatchNotFoundError extends UserError {
  override name = 'BatchNotFoundError';
  constructor(id: string) {
    super(`no batch "${id}" (wrong id, another --prefix, or its results have expired)`);
  }
}

/** The batch's description and counters; a batch that does not exist is a UserError. */
export async function requireBatch(p: Producer, id: string): Promise<BatchSummary> {
  const summary = await p.store.batches.summary(id);
  if (!summary) throw new BatchNotFoundError(id);
  return summary;
}

/** From the counters the workers keep: one read, whatever the batch's size. */
export async function batchStatus(p: Producer, id: string): Promise<BatchStatus> {
  const listing = batchListing(await requireBatch(p, id));
  return { ...listing, done: !listing.submitting && listing.pending <= 0 };
}

/** The most recent batches, newest first, with their counters (from the batch index). */
export function recentBatches(p: Producer, limit: number): Promise<BatchSummary[]> {
  return p.store.batches.recent(limit);
}

interface Line {
  doc: DocumentRef;
  taskLine: TaskLine;
  jobId: string;
  result?: StoredResult;
}

/**
 * Walks a batch a page of documents at a time, one line per document and task: only a page is held in
 * memory, so a batch of any size can be read. A job answering several lines is read once per page.
 */
async function* walkLines(p: Producer, meta: BatchMeta, opts: { newestFirst?: boolean } = {}): AsyncGenerator<Line[]> {
  const lines = batchTaskLines(meta);
  for await (const docs of p.store.batches.documents(meta.id, opts)) {
    const page = documentLines(docs, lines);
    const ids = [...new Set(page.map((l) => l.jobId))];
    const results = new Map((await p.store.get(ids)).map((r, i) => [ids[i]!, r]));
    yield page.map((l) => ({ ...l, result: results.get(l.jobId) }));
  }
}

/** An unfinished job where the batch put it, or in another queue of its role (an earlier batch's tag). */
async function findJob(p: Producer, l: Line): Promise<Job | undefined> {
  const queues = [
    l.taskLine.queue,
    ...queuesForRole(roleForTask(l.taskLine.task)).filter((q) => q !== l.taskLine.queue),
  ];
  for (const queue of queues) {
    const job = await p.queue(queue).getJob(l.jobId);
    if (job) return job;
  }
  return undefined;
}

function pendingState(
  state: string | undefined,
): 'waiting' | 'active' | 'delayed' | 'missing' | 'completed' | 'failed' {
  switch (state) {
    case 'active':
    case 'delayed':
    case 'completed':
    case 'failed':
      return state;
    case 'waiting':
    case 'prioritized':
    case 'waiting-children':
      return 'waiting';
    default:
      return 'missing';
  }
}

/** Every line of the batch, in submission order; a document given twice has two lines with one result. */
export async function* batchResults(p: Producer, id: string): AsyncGenerator<ResultLine> {
  const { meta } = await requireBatch(p, id);
  for await (const page of walkLines(p, meta)) {
    const unfinished = await Promise.all(page.map(async (l) => (l.result ? undefined : findJob(p, l))));
    const states = await Promise.all(unfinished.map(async (job) => job?.getState()));
    for (const [i, l] of page.entries()) {
      const own = (job: JobData): JobData => ({ ...job, doc: l.doc });
      if (l.result) {
        yield { batch: id, ...l.result, job: own(l.result.job) };
        continue;
      }
      const job = unfinished[i];
      const where = pendingState(states[i]);
      if (where === 'failed' && job) {
        // Failed without a stored result: BullMQ gave up on it (e.g. it stalled too often).
        yield {
          batch: id,
          jobId: l.jobId,
          status: 'failed',
          job: own(job.data as JobData),
          error: { category: 'stalled', message: job.failedReason, attempts: job.attemptsMade },
          finishedAt: job.finishedOn ?? 0,
        };
      } else {
        // A job BullMQ shows as completed but without a stored result has lost it (expired): say so.
        const status = where === 'completed' || where === 'failed' ? 'missing' : where;
        yield { batch: id, jobId: l.jobId, status, ...(job ? { job: own(job.data as JobData) } : {}) };
      }
    }
  }
}

/**
 * Removes the batch's queued jobs and marks the batch cancelled so that workers skip any job of it they have
 * not started. Running jobs finish. Jobs another batch also covers are left to it. A page at a time, newest
 * documents first: BullMQ's removal looks for a waiting job from the newest end of the queue, so this order
 * keeps each removal's search to the jobs queued after the batch.
 */
export async function cancelBatch(p: Producer, id: string): Promise<{ cancelled: number; running: number }> {
  const { meta } = await requireBatch(p, id);
  await p.store.batches.update({ ...meta, cancelled: true });
  let cancelled = 0;
  let running = 0;
  for await (const page of walkLines(p, meta, { newestFirst: true })) {
    const open = [...new Map(page.filter((l) => !l.result).map((l) => [l.jobId, l])).values()];
    const coverage = await p.store.batches.coverage(open.map((l) => l.jobId));
    const own = open.filter((_, i) => coverage[i] === 1);
    const outcomes = await Promise.all(
      own.map(async (l) => {
        // 0: a worker holds the job's lock (it is running); jobs not in the queue any more are removed as no-ops.
        if ((await p.queue(l.taskLine.queue).remove(l.jobId)) !== 1) return 'running';
        const data: JobData = { batchId: id, doc: l.doc, task: l.taskLine.task, params: meta.params };
        // A job that ended between our look and the removal keeps its outcome.
        return (await p.store.saveCancelled(l.jobId, data, { unfinished: true })) ? 'cancelled' : 'finished';
      }),
    );
    cancelled += outcomes.filter((o) => o === 'cancelled').length;
    running += outcomes.filter((o) => o === 'running').length;
  }
  return { cancelled, running };
}

/** Puts the batch's failed jobs back in their queues, with fresh attempts. */
export async function retryBatch(p: Producer, id: string): Promise<{ retried: number }> {
  const { meta } = await requireBatch(p, id);
  let retried = 0;
  const seen = new Set<string>();
  for await (const page of walkLines(p, meta)) {
    for (const l of page) {
      if (seen.has(l.jobId) || (l.result && l.result.status !== 'failed')) continue;
      const existing = await findJob(p, l);
      const state = await existing?.getState();
      if (!l.result && state !== 'failed') continue;
      seen.add(l.jobId);
      // The outcome goes first: a worker quick to finish the retried job must not have its result dropped.
      await p.store.remove([l.jobId]);
      if (existing && state === 'failed')
        await existing.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      else {
        // BullMQ has already dropped the job (retention); enqueue it again from the stored copy.
        await existing?.remove().catch(() => undefined);
        await p.queue(l.taskLine.queue).add(l.taskLine.task, l.result!.job, p.jobOptions(l.jobId));
      }
      retried++;
    }
  }
  return { retried };
}
