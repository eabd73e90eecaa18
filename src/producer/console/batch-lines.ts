import type { BatchMeta } from '../../shared/batch-store.js';
import type { DocumentRef } from '../../shared/job-types.js';
import type { StoredResult } from '../../shared/result-store.js';
import type { Producer } from '../producer.js';
import { batchTaskLines, documentLines, type DocumentLine } from '../task-lines.js';

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
  const page = documentLines(documents, tasks);
  const results = await p.store.outcomes(page.map((l) => l.jobId));
  const lines = await Promise.all(
    page.map(async ({ doc, taskLine: t, jobId }, i): Promise<BatchLine> => {
      const result = results[i];
      if (result) return { doc, task: t.task, jobId, status: result.status, result };
      // An earlier batch may have queued the same job under another tag: then its state here is unknown.
      const state = await p.queue(t.queue).getJobState(jobId);
      return { doc, task: t.task, jobId, status: state === 'prioritized' ? 'waiting' : state };
    }),
  );
  return { lines, documents: total };
}

/** Documents whose statuses are read at once while looking for failures. */
const SCAN_DOCUMENTS = 500;

/**
 * Up to `want` failed lines of a batch, from its `from`th document on, and the document to go on from when there
 * may be more. Reads only the statuses of the lines it passes over (one field each) and the outcomes of those it
 * keeps, so the failures of a batch of any size are found without loading its results.
 */
export async function failedLines(
  p: Producer,
  meta: BatchMeta,
  from: number,
  want: number,
): Promise<{ lines: BatchLine[]; next?: number }> {
  const tasks = batchTaskLines(meta);
  const found: DocumentLine[] = [];
  for (let start = from; ; start += SCAN_DOCUMENTS) {
    const { documents, total } = await p.store.batches.documentPage(meta.id, start, SCAN_DOCUMENTS);
    const page = documentLines(documents, tasks);
    const statuses = await p.store.statuses(page.map((l) => l.jobId));
    for (const [i, line] of page.entries()) {
      if (statuses[i] !== 'failed') continue;
      found.push(line);
      // Stops at a document's last line, so that the next page starts with the following document.
      const documentIndex = start + Math.floor(i / tasks.length);
      if (found.length >= want && (i + 1) % tasks.length === 0) return withOutcomes(p, found, documentIndex + 1, total);
    }
    if (start + SCAN_DOCUMENTS >= total) return withOutcomes(p, found, total, total);
  }
}

async function withOutcomes(
  p: Producer,
  found: DocumentLine[],
  next: number,
  total: number,
): Promise<{ lines: BatchLine[]; next?: number }> {
  const results = await p.store.outcomes(found.map((l) => l.jobId));
  const lines = found.map(({ doc, taskLine, jobId }, i) => ({
    doc,
    task: taskLine.task,
    jobId,
    status: results[i]?.status ?? 'failed',
    result: results[i],
  }));
  return next < total ? { lines, next } : { lines };
}
