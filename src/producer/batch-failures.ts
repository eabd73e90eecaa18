import type { FailureCategory } from '../shared/errors.js';
import { requireBatch } from './batch-control.js';
import type { Producer } from './producer.js';
import { batchTaskLines, documentLines } from './task-lines.js';

/** A failed line of a batch: which document, which task, and why (never the document's text). */
export interface FailedDocument {
  /** The document's name (relative path or URL) and where workers read it. */
  name: string;
  uri: string;
  task: string;
  jobId: string;
  message: string;
  attempts: number;
}

/** The failed lines of one category. */
export interface FailureGroup {
  category: FailureCategory;
  documents: FailedDocument[];
}

export interface BatchFailures {
  batch: string;
  /** Failed lines in all (a document given twice, or failing two tasks, counts each time, as `status` does). */
  failed: number;
  /** The categories, the most frequent first. */
  groups: FailureGroup[];
}

/**
 * A batch's failed lines grouped by error category, from the result store. It walks the batch's documents a page
 * at a time, asks the store for the status of each line's job and reads only the failed outcomes.
 */
export async function batchFailures(p: Producer, id: string): Promise<BatchFailures> {
  const { meta } = await requireBatch(p, id);
  const lines = batchTaskLines(meta);
  const groups = new Map<FailureCategory, FailedDocument[]>();
  let failed = 0;
  for await (const docs of p.store.batches.documents(id)) {
    const page = documentLines(docs, lines);
    const ids = [...new Set(page.map((l) => l.jobId))];
    const statuses = await p.store.statuses(ids);
    const failedIds = ids.filter((_, i) => statuses[i] === 'failed');
    const outcomes = new Map((await p.store.get(failedIds)).map((r, i) => [failedIds[i]!, r]));
    for (const { doc, taskLine, jobId } of page) {
      const error = outcomes.get(jobId)?.error;
      if (!error) continue;
      failed++;
      const group = groups.get(error.category) ?? [];
      groups.set(error.category, group);
      group.push({
        name: doc.name,
        uri: doc.uri,
        task: taskLine.task,
        jobId,
        message: error.message,
        attempts: error.attempts,
      });
    }
  }
  return {
    batch: id,
    failed,
    groups: [...groups]
      .map(([category, documents]) => ({ category, documents }))
      .sort((a, b) => b.documents.length - a.documents.length || a.category.localeCompare(b.category)),
  };
}
