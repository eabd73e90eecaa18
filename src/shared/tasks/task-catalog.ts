import type { z } from 'zod';
import { embedParams, type EmbedOutput, type EmbedParams } from './embed.js';
import { extractParams, type ExtractOutput, type ExtractParams } from './extract.js';
import { summarizeParams, type SummarizeOutput, type SummarizeParams } from './summarize.js';

/** What a job asks of a worker. */
export const TASKS = ['summarize', 'extract', 'embed'] as const;
export type TaskName = (typeof TASKS)[number];

/** A model either generates text or embeds it; each task needs one of the two. */
export type ModelRole = 'generate' | 'embed';

/** What producers and workers agree on per task: the model it needs and the parameters it accepts. */
export const TASK_CATALOG: { readonly [N in TaskName]: TaskContract<N> } = {
  summarize: { role: 'generate', params: summarizeParams },
  extract: { role: 'generate', params: extractParams },
  embed: { role: 'embed', params: embedParams },
};

export interface TaskContract<N extends TaskName> {
  role: ModelRole;
  params: z.ZodType<TaskParamsOf<N>>;
}

interface TaskParamsByName {
  summarize: SummarizeParams;
  extract: ExtractParams;
  embed: EmbedParams;
}
export type TaskParamsOf<N extends TaskName> = TaskParamsByName[N];

export interface TaskOutputs {
  summarize: SummarizeOutput;
  extract: ExtractOutput;
  embed: EmbedOutput;
}

/**
 * A task's parameters checked against its schema: the parsed parameters, or one line saying what is wrong
 * (producers turn it into a usage error, workers into a permanent failure).
 */
export function checkParams<N extends TaskName>(
  task: N,
  params: unknown,
): { ok: true; params: TaskParamsOf<N> } | { ok: false; problem: string } {
  const parsed = TASK_CATALOG[task].params.safeParse(params);
  return parsed.success ? { ok: true, params: parsed.data } : { ok: false, problem: paramsProblem(task, parsed.error) };
}

/** A schema's complaint about a task's parameters as one line. */
export function paramsProblem(task: TaskName, error: z.ZodError): string {
  const issues = error.issues.map((i) => `${['params', ...i.path.map(String)].join('.')}: ${i.message}`);
  return `${task}: ${issues.join('; ')}`;
}
