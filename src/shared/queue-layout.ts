import { TAGS, type Tag } from './job-types.js';
import { TASK_CATALOG, type ModelRole, type TaskName } from './tasks/task-catalog.js';

export type { ModelRole } from './tasks/task-catalog.js';

/**
 * Queue layout. A worker holds one model, and a model either generates text or embeds it, so
 * jobs are split by the role of the model they need and by where they may run:
 *
 *   docfleet-generate-gpu   docfleet-generate-cpu   docfleet-generate-any
 *   docfleet-embed-gpu      docfleet-embed-cpu      docfleet-embed-any
 *
 * A worker tagged `cpu` that holds a generative model consumes `generate-cpu` and `generate-any`;
 * a `gpu` worker with an embedding model consumes `embed-gpu` and `embed-any`. Jobs tagged `any`
 * therefore go to whichever matching worker frees a slot first, and a tagged job never runs on the
 * wrong kind of hardware. Keeping one queue per (role, tag) also gives KEDA one depth per pool.
 */
export type WorkerTag = Exclude<Tag, 'any'>;

export const ROLES: readonly ModelRole[] = ['generate', 'embed'];

export function roleForTask(task: TaskName): ModelRole {
  return TASK_CATALOG[task].role;
}

export function queueName(role: ModelRole, tag: Tag): string {
  return `docfleet-${role}-${tag}`;
}

/** Queues a worker consumes, its own tag first. */
export function queuesServedBy(role: ModelRole, tag: WorkerTag): string[] {
  return [queueName(role, tag), queueName(role, 'any')];
}

/** Every queue that holds jobs for models of this role, whatever their tag. */
export function queuesForRole(role: ModelRole): string[] {
  return TAGS.map((tag) => queueName(role, tag));
}

/** Every queue of the fleet, for status, cancel and the queue-depth exporter. */
export function allQueueNames(): string[] {
  return ROLES.flatMap(queuesForRole);
}
