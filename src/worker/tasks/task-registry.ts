import type { TaskName } from '../../shared/tasks/task-catalog.js';
import { embedTask } from './embed/embed-task.js';
import { extractTask } from './extract/extract-task.js';
import { summarizeTask } from './summarize/summarize-task.js';
import type { Task } from './task.js';

/** Every task a worker runs, one line each: a new task is a folder exporting its Task, and its line here. */
export const TASK_REGISTRY: { readonly [N in TaskName]: Task<N> } = {
  summarize: summarizeTask,
  extract: extractTask,
  embed: embedTask,
};
