import type { BatchMeta } from '../../shared/batch-store.js';
import type { DocumentRef } from '../../shared/job-types.js';
import type { StoredResult } from '../../shared/result-store.js';
import type { Producer } from '../producer.js';
import { batchTaskLines } from '../task-lines.js';

/** One document and task of a batch, as the batch page shows it. */
export interface BatchLine {
  doc: DocumentRef;
  task: string;
  jobId: string;
  /** The stored outcome's status, else where BullMQ has the job (waiting, active, delayed, …, or unknown). */
  status: string;
  result?: StoredResult;
}

/**
 * A page of a batch's lines: `count` documents from the `start`th, each with one line per task. Reads only that
 * page (its documents, their outcomes without vectors, and the queue state of the unfinished ones), so a batch of
 * any size is paged through at the same cost.
 */
export async function batchLines(
  p: Producer,
  meta: BatchMeta,
  start: number,
  count: number,
): Promise<{ lines: BatchLine[]; documents: number }> {
  const { documents, total } = await p.store.batches.documentPage(meta.id, start, count);
  const tasks = batchTaskLines(meta);
  const page = documents.flatMap((doc) => tasks.map((t) => ({ doc, t, jobId: t.idOf(doc.sha256) })));
  const results = await p.store.outcomes(page.map((l) => l.jobId));
  const lines = await Promise.all(
    page.map(async ({ doc, t, jobId }, i): Promise<BatchLine> => {
      const result = results[i];
      if (result) return { doc, task: t.task, jobId, status: result.status, result };
      // An earlier batch may have queued the same job under another tag: then its state here is unknown.
      const state = await p.queue(t.queue).getJobState(jobId);
      return { doc, task: t.task, jobId, status: state === 'prioritized' ? 'waiting' : state };
    }),
  );
  return { lines, documents: total };
}
