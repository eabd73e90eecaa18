import { hash } from 'node:crypto';
import type { TaskName, TaskParams } from './job-types.js';

/**
 * A job's id is derived from what determines its result — the document's bytes, the task and
 * its parameters — so enqueuing the same document twice is a no-op, and a result can be reused.
 */
export function jobIdFor(sha256: string, task: TaskName, params: TaskParams): string {
  return jobIdsFor(task, params)(sha256);
}

/**
 * The ids of one task with one set of parameters, for many documents: a submission of thousands of
 * documents serialises its parameters once, not once per document.
 */
export function jobIdsFor(task: TaskName, params: TaskParams): (sha256: string) => string {
  const suffix = `\n${task}\n${canonicalJson(params)}`;
  // BullMQ ids must not contain ':'; the task prefix keeps ids readable in Redis tools.
  return (sha256) => `${task}-${hash('sha256', sha256 + suffix, 'hex').slice(0, 40)}`;
}

/** JSON with object keys sorted, so equal parameters give equal ids whatever their order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
