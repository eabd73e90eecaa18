import { TASK_CATALOG } from '../../../shared/tasks/task-catalog.js';
import type { Task } from '../task.js';
import { embed } from './embed.js';

/** Vectors of a document's chunks, from the embedding contexts every job shares. */
export const embedTask: Task<'embed'> = {
  name: 'embed',
  ...TASK_CATALOG.embed,
  run: ({ host, doc, params, signal }) => embed({ ...host.embedder, signal }, doc, params),
};
