import type { Job } from 'bullmq';
import { PermanentError, TransientError } from '../../shared/errors.js';
import type { JobData } from '../../shared/job-types.js';
import { paramsProblem, type TaskName, type TaskParamsOf } from '../../shared/tasks/task-catalog.js';
import type { ModelHost } from '../model/model-host.js';
import type { DocumentText } from '../text/document-text.js';
import type { JobContext, JobInput, JobOutcome, Task, TaskRun } from './task.js';
import { TASK_REGISTRY } from './task-registry.js';

/**
 * Runs jobs' tasks on the model host: finds each job's task in the registry, checks that this worker can run
 * it with these parameters, and keeps to the host's slots.
 */
export class TaskRunner {
  private running = 0;

  constructor(
    readonly host: ModelHost,
    private readonly tasks: { readonly [N in TaskName]: Task<N> } = TASK_REGISTRY,
  ) {}

  /** Slots free for another run. */
  get freeSlots(): number {
    return this.host.sequences - this.running;
  }

  /**
   * Runs a job's task on a text (its document, or a part it carries). The scheduler never asks for more than
   * `sequences` at once.
   */
  run<N extends TaskName>(data: JobData & { task: N }, doc: DocumentText, signal?: AbortSignal): Promise<TaskRun<N>> {
    return this.runTask(this.tasks[data.task], data, doc, signal);
  }

  /** The one path of every job: the task's own planning of parts, or else one run on the whole document. */
  process(job: Job<JobData>, input: JobInput): Promise<JobOutcome> {
    return this.processTask(this.tasks[job.data.task], job, input);
  }

  private async processTask<N extends TaskName>(
    task: Task<N>,
    job: Job<JobData>,
    input: JobInput,
  ): Promise<JobOutcome<N>> {
    const data = job.data;
    if (data.params.model && data.params.model !== this.host.modelName) {
      // Queues are per role and tag, not per model: a fleet runs one model per role.
      throw new PermanentError(
        'bad-params',
        `job expects model "${data.params.model}" but this worker holds "${this.host.modelName}"`,
      );
    }
    const ctx: JobContext<N> = {
      ...input,
      job,
      params: this.check(task, data),
      host: this.host,
      run: (part, doc) => this.runTask(task, part, doc, input.signal),
    };
    const planned = await task.planParts?.(ctx);
    if (planned) return planned;
    const loaded = await input.document();
    const run = await ctx.run(data, loaded.doc);
    const doc = {
      pages: loaded.pages,
      chars: loaded.doc.text.length,
      fetchMs: loaded.fetchMs,
      parseMs: loaded.parseMs,
      since: input.started,
      parsedNow: loaded.pages,
    };
    return { waiting: false, run, doc };
  }

  private async runTask<N extends TaskName>(
    task: Task<N>,
    data: JobData,
    doc: DocumentText,
    signal?: AbortSignal,
  ): Promise<TaskRun<N>> {
    const params = this.check(task, data);
    if (this.running >= this.host.sequences) throw new Error(`run: all ${this.host.sequences} slots are busy`);
    this.running++;
    const started = performance.now();
    try {
      const { output, tokensIn, tokensOut, firstTokenAt } = await task.run({
        host: this.host,
        doc,
        params,
        data,
        signal,
      });
      const inferMs = Math.round(performance.now() - started);
      const firstTokenMs = firstTokenAt === undefined ? undefined : Math.round(firstTokenAt - started);
      return { task: task.name, output, tokensIn, tokensOut, inferMs, firstTokenMs };
    } catch (err) {
      if (err instanceof PermanentError || err instanceof TransientError || signal?.aborted) throw err;
      throw new TransientError(
        'inference-failed',
        `${task.name} on ${this.host.modelName} failed: ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      this.running--;
    }
  }

  /** The job's parameters for its task, if this worker's model can run the task at all. */
  private check<N extends TaskName>(task: Task<N>, data: JobData): TaskParamsOf<N> {
    if (task.role !== this.host.role) {
      throw new PermanentError(
        'bad-params',
        `task "${task.name}" needs a ${task.role} model; this worker holds ${this.host.modelName} (${this.host.role})`,
      );
    }
    const parsed = task.params.safeParse(data.params);
    if (!parsed.success) throw new PermanentError('bad-params', paramsProblem(task.name, parsed.error));
    return parsed.data;
  }
}
