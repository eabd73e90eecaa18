import type { BatchMeta } from '../shared/batch-store.js';
import { jobIdsFor } from '../shared/job-id.js';
import type { DocumentRef, Tag, TaskName, TaskParams } from '../shared/job-types.js';
import { queueName, roleForTask } from '../shared/queue-layout.js';

/** One task of a batch: each document gets one line (and one job) per task. */
export interface TaskLine {
  task: TaskName;
  /** The queue the batch puts the task's new jobs in. */
  queue: string;
  /** The job id of a document, from its sha256. */
  idOf: (sha256: string) => string;
}

export function taskLines(tasks: TaskName[], tag: Tag, params: TaskParams): TaskLine[] {
  return tasks.map((task) => ({ task, queue: queueName(roleForTask(task), tag), idOf: jobIdsFor(task, params) }));
}

/** The lines of a recorded batch: its job ids follow from its documents, tasks and parameters. */
export function batchTaskLines(meta: BatchMeta): TaskLine[] {
  return taskLines(meta.tasks, meta.tag, meta.params);
}

/** One document's line of one task, and the job that holds its outcome. */
export interface DocumentLine {
  doc: DocumentRef;
  taskLine: TaskLine;
  jobId: string;
}

/** The lines of these documents, document by document, each in the batch's task order. */
export function documentLines(docs: DocumentRef[], lines: TaskLine[]): DocumentLine[] {
  return docs.flatMap((doc) => lines.map((taskLine) => ({ doc, taskLine, jobId: taskLine.idOf(doc.sha256) })));
}
