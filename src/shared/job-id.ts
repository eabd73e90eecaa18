import { createHash } from 'node:crypto';
import type { TaskName, TaskParams } from './job-types.js';

/**
 * A job's id is derived from what determines its result — the document's bytes, the task and
 * its parameters — so enqueuing the same document twice is a no-op, and a result can be reused.
 */
export function jobIdFor(sha256: string, task: TaskName, params: TaskParams): string {
  const digest = createHash('sha256').update(`${sha256}\n${task}\n${canonicalJson(params)}`).digest('hex');
  // BullMQ ids must not contain ':'; the task prefix keeps ids readable in Redis tools.
  return `${task}-${digest.slice(0, 40)}`;
}

/** JSON with object keys sorted, so equal parameters give equal ids whatever their order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
