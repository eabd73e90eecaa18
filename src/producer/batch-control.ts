import type { Job } from 'bullmq';
import { UserError } from '../shared/errors.js';
import type { JobData } from '../shared/job-types.js';
import type { BatchEntry, StoredResult } from '../shared/result-store.js';
import type { Producer } from './producer.js';

export interface BatchStatus {
  batch: string;
  total: number;
  waiting: number;
  active: number;
  /** Waiting out a retry backoff. */
  delayed: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Jobs neither queued nor finished (removed by hand, or results expired). */
  missing: number;
  done: boolean;
}

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

async function requireBatch(p: Producer, id: string) {
  const meta = await p.store.batch(id);
  if (!meta) throw new BatchNotFoundError(id);
  return meta;
}

/**
 * Walks a batch page by page: finished jobs come from the result store, the rest from BullMQ.
 * Only pages are held in memory, so a batch of any size can be inspected.
 */
async function* walkBatch(
  p: Producer,
  id: string,
): AsyncGenerator<{ entry: BatchEntry; result?: StoredResult; state?: string; job?: Job }> {
  for await (const page of p.store.batchEntries(id)) {
    const results = await p.store.get(page.map((e) => e.jobId));
    const pending = page.map((entry, i) => ({ entry, result: results[i] }));
    yield* await Promise.all(
      pending.map(async ({ entry, result }) => {
        if (result) return { entry, result };
        const job = await p.queue(entry.queue).getJob(entry.jobId);
        return { entry, job, state: job ? await job.getState() : 'missing' };
      }),
    );
  }
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

export async function batchStatus(p: Producer, id: string): Promise<BatchStatus> {
  await requireBatch(p, id);
  const s: BatchStatus = {
    batch: id,
    total: 0,
    waiting: 0,
    active: 0,
    delayed: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    missing: 0,
    done: false,
  };
  for await (const { result, state } of walkBatch(p, id)) {
    s.total++;
    s[result ? result.status : pendingState(state)]++;
  }
  s.done = s.waiting + s.active + s.delayed === 0;
  return s;
}

export async function* batchResults(p: Producer, id: string): AsyncGenerator<ResultLine> {
  await requireBatch(p, id);
  for await (const { entry, result, state, job } of walkBatch(p, id)) {
    if (result) {
      yield { batch: id, ...result };
      continue;
    }
    const where = pendingState(state);
    if (where === 'failed' && job) {
      // Failed without a stored result: BullMQ gave up on it (e.g. it stalled too often).
      yield {
        batch: id,
        jobId: entry.jobId,
        status: 'failed',
        job: job.data as JobData,
        error: { category: 'stalled', message: job.failedReason, attempts: job.attemptsMade },
        finishedAt: job.finishedOn ?? 0,
      };
    } else {
      // A job BullMQ shows as completed but without a stored result has lost it (expired): say so.
      const status = where === 'completed' || where === 'failed' ? 'missing' : where;
      yield { batch: id, jobId: entry.jobId, status, ...(job ? { job: job.data as JobData } : {}) };
    }
  }
}

/**
 * Removes the batch's queued jobs and marks the batch cancelled so that workers skip any job of it
 * they have not started. Running jobs finish. Jobs this batch shares with another batch are left alone.
 */
export async function cancelBatch(p: Producer, id: string): Promise<{ cancelled: number; running: number }> {
  const meta = await requireBatch(p, id);
  await p.store.saveBatch({ ...meta, cancelled: true });
  let cancelled = 0;
  let running = 0;
  for await (const { job, state } of walkBatch(p, id)) {
    if (!job || (job.data as JobData).batchId !== id) continue;
    const where = pendingState(state);
    if (where === 'active') running++;
    if (where !== 'waiting' && where !== 'delayed') continue;
    try {
      await job.remove();
      await p.store.saveCancelled(job.id!, job.data as JobData);
      cancelled++;
    } catch {
      running++; // picked up by a worker between our look and the removal
    }
  }
  return { cancelled, running };
}

/** Puts the batch's failed jobs back in their queues, with fresh attempts. */
export async function retryBatch(p: Producer, id: string): Promise<{ retried: number }> {
  await requireBatch(p, id);
  let retried = 0;
  for await (const { entry, result, job, state } of walkBatch(p, id)) {
    const failed = result?.status === 'failed' || pendingState(state) === 'failed';
    if (!failed) continue;
    const existing = job ?? (await p.queue(entry.queue).getJob(entry.jobId));
    if (existing && (await existing.getState()) === 'failed')
      await existing.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    else {
      // BullMQ has already dropped the job (retention); enqueue it again from the stored copy.
      await existing?.remove().catch(() => undefined);
      await p.queue(entry.queue).add(result!.job.task, result!.job, p.jobOptions(entry.jobId));
    }
    await p.store.remove([entry.jobId]);
    retried++;
  }
  return { retried };
}
