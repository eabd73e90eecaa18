import type { BatchSummary } from '../shared/batch-store.js';
import type { TaskName } from '../shared/job-types.js';
import { plainTable } from './plain-table.js';

/** One batch as `docfleet batches` shows it (and prints it with --json). */
export interface BatchListing {
  batch: string;
  name?: string;
  createdAt: string;
  /** The first inputs named at submit, and how many there were. */
  inputs: { first: string[]; count: number };
  tasks: TaskName[];
  /** Lines: one per submitted document and task. */
  total: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Lines whose job has not finished (queued, running, waiting out a retry, or lost). */
  pending: number;
  /** Still being submitted. */
  submitting: boolean;
}

export function batchListing({ meta, counts }: BatchSummary): BatchListing {
  return {
    batch: meta.id,
    ...(meta.name ? { name: meta.name } : {}),
    createdAt: new Date(meta.createdAt).toISOString(),
    inputs: meta.inputs,
    tasks: meta.tasks,
    total: counts.lines,
    completed: counts.completed,
    failed: counts.failed,
    cancelled: counts.cancelled,
    pending: counts.lines - counts.completed - counts.failed - counts.cancelled,
    submitting: meta.submitting,
  };
}

/** A plain table, newest first; ages relative to `now`. */
export function formatBatches(list: BatchListing[], now: number): string {
  if (list.length === 0) return 'no batches\n';
  const header = ['BATCH', 'NAME', 'AGE', 'TASKS', 'TOTAL', 'DONE', 'FAILED', 'INPUTS'];
  const rows = list.map((b) => [
    b.batch,
    b.name ?? '-',
    age(now - Date.parse(b.createdAt)) + (b.submitting ? ' (submitting)' : ''),
    b.tasks.join(','),
    String(b.total),
    String(b.completed),
    String(b.failed),
    inputsText(b.inputs),
  ]);
  return plainTable(header, rows);
}

function inputsText({ first, count }: BatchListing['inputs']): string {
  if (count === 0) return '-';
  const more = count - first.length;
  return first.join(' ') + (more > 0 ? ` (+${more} more)` : '');
}

/** A duration as a person reads it at a glance: 45s, 12m, 5h, 3d. */
export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s}s`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}
