import { TASK_CATALOG } from '../../../shared/tasks/task-catalog.js';
import type { Task } from '../task.js';
import { extract } from './extract.js';

/** Fields of a JSON Schema, each value with a quote looked up in the document. */
export const extractTask: Task<'extract'> = {
  name: 'extract',
  ...TASK_CATALOG.extract,
  run: ({ host, doc, params, signal }) => host.withSequence(signal, (env) => extract(env, doc, params)),
};
