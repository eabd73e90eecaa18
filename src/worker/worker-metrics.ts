import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FailureCategory } from '../shared/errors.js';
import { TASKS, type TaskName } from '../shared/job-types.js';
import { queuesServedBy, roleForTask, type ModelRole, type WorkerTag } from '../shared/queue-layout.js';

export interface ModelInfo {
  model: string;
  device: 'cpu' | 'gpu';
  role: ModelRole;
  tag: WorkerTag;
  /** Threads per context. */
  threads: number;
  sequences: number;
  /** llama.cpp contexts evaluating side by side. */
  contexts: number;
  /** Tokens per sequence. */
  contextSize: number;
  loadSeconds: number;
  cpuBudget: number;
}

export interface JobStart {
  queue: string;
  task: TaskName;
  /** From the job's creation to a worker taking it. */
  waitSeconds: number;
}

/**
 * `retried`: this attempt failed and BullMQ will try again; `failed`: the job's final failure; `waiting`: the
 * run handed the work to child jobs (a summary flow) and the job waits for them (not counted as finished).
 */
export type JobOutcome = 'completed' | 'failed' | 'retried' | 'waiting';

export interface JobEnd {
  queue: string;
  task: TaskName;
  outcome: JobOutcome;
  /** Why the attempt failed; `internal` when a failed attempt gives none. */
  reason?: FailureCategory;
  /** A child job of a summary flow: counted as a part, not as a document's job. */
  part?: boolean;
  durationSeconds: number;
  tokensIn: number;
  tokensOut: number;
  pages: number;
}

/** Long enough to smooth over a few jobs, short enough to show a model slowing down. */
const TOKENS_WINDOW_SECONDS = 30;

// Queue waits range from an idle fleet (ms) to a batch backlog (hours).
const WAIT_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600];
// One job runs from a cache-hit embed (~0.1 s) to a long summary on a CPU (~30 min).
const DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800];

/** The figures of the loaded model that are one gauge each: the ModelInfo field, the metric's name and help. */
const MODEL_GAUGES = [
  ['contextSize', 'docfleet_context_size_tokens', 'Context size of each sequence, in tokens.'],
  ['sequences', 'docfleet_sequences', 'Context sequences, the most jobs this worker runs at once.'],
  ['threads', 'docfleet_cpu_threads', 'CPU threads per llama.cpp context.'],
  [
    'contexts',
    'docfleet_contexts',
    'llama.cpp contexts evaluating side by side; threads in use = contexts × docfleet_cpu_threads.',
  ],
  ['cpuBudget', 'docfleet_cpu_budget_cores', 'CPU cores this worker may use (cgroup quota or host cores).'],
] as const satisfies readonly (readonly [keyof ModelInfo, string, string])[];

interface FinishedJob {
  start: number;
  end: number;
  tokensIn: number;
  tokensOut: number;
}

/**
 * The metrics one worker process exposes. Labels are bounded sets (queues, tasks, the worker's own
 * tag and model, failure categories), never job or batch ids, so series count stays flat however
 * many documents go through.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  /** Running totals since start, for the worker's heartbeat. */
  readonly totals = { jobsDone: 0, tokens: 0 };
  readonly contentType = this.registry.contentType;
  private labels = { tag: 'unknown', model: 'unknown' };
  private recent: FinishedJob[] = [];

  private readonly modelInfo = this.gauge('docfleet_model_info', 'The model this worker holds (always 1).', [
    'model',
    'device',
    'role',
    'tag',
  ]);
  private readonly loadSeconds = this.gauge(
    'docfleet_model_load_seconds',
    'Time taken to load the model and create its context.',
    ['model'],
  );
  private readonly modelGauges = MODEL_GAUGES.map(([field, name, help]) => ({ field, gauge: this.gauge(name, help) }));
  private readonly busy = this.gauge('docfleet_sequences_busy', 'Context sequences running a job now.');

  private readonly wait = this.histogram(
    'docfleet_job_wait_seconds',
    'Time from a job being added to a worker starting it.',
    ['queue', 'task'],
    WAIT_BUCKETS,
  );
  private readonly jobs = this.counter('docfleet_jobs_total', 'Job attempts finished by this worker, by outcome.', [
    'queue',
    'task',
    'tag',
    'model',
    'outcome',
  ]);
  private readonly parts = this.counter(
    'docfleet_flow_parts_total',
    'Child jobs of summary flows (chunk summaries and combining steps) finished by this worker, by outcome.',
    ['queue', 'outcome'],
  );
  private readonly failures = this.counter(
    'docfleet_job_failures_total',
    'Failed job attempts (final or retried), by failure category.',
    ['queue', 'task', 'reason'],
  );
  private readonly duration = this.histogram(
    'docfleet_job_duration_seconds',
    'Time a job attempt held a sequence, fetch to result.',
    ['queue', 'task', 'tag', 'model', 'outcome'],
    DURATION_BUCKETS,
  );
  private readonly tokens = this.counter(
    'docfleet_tokens_total',
    'Tokens read (in) and generated (out) by finished job attempts.',
    ['tag', 'model', 'direction'],
  );
  private readonly pages = this.counter('docfleet_pages_parsed_total', 'Document pages whose text was extracted.');

  private readonly tokensPerSecond: Gauge<'direction'> = new Gauge({
    name: 'docfleet_tokens_per_second',
    help: `Tokens per second over the last ${TOKENS_WINDOW_SECONDS} s of finished jobs.`,
    labelNames: ['direction'] as const,
    registers: [this.registry],
    collect: () => this.updateTokenRate(),
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  setModel(info: ModelInfo): void {
    this.labels = { tag: info.tag, model: info.model };
    this.modelInfo.reset();
    this.modelInfo.set({ model: info.model, device: info.device, role: info.role, tag: info.tag }, 1);
    this.loadSeconds.reset();
    this.loadSeconds.set({ model: info.model }, info.loadSeconds);
    for (const { field, gauge } of this.modelGauges) gauge.set(info[field]);
    // rate() misses a counter's first increment unless the series already exists at 0.
    const tasks = TASKS.filter((task) => roleForTask(task) === info.role);
    for (const queue of queuesServedBy(info.role, info.tag))
      for (const task of tasks)
        for (const outcome of ['completed', 'failed', 'retried'] as const)
          this.jobs.inc({ queue, task, ...this.labels, outcome }, 0);
    if (info.role === 'generate') {
      for (const queue of queuesServedBy(info.role, info.tag))
        for (const outcome of ['completed', 'failed', 'retried'] as const) this.parts.inc({ queue, outcome }, 0);
    }
    for (const direction of ['in', 'out']) this.tokens.inc({ ...this.labels, direction }, 0);
  }

  jobStarted(l: JobStart): void {
    this.wait.observe({ queue: l.queue, task: l.task }, Math.max(0, l.waitSeconds));
    this.busy.inc();
  }

  jobFinished(l: JobEnd): void {
    this.busy.dec();
    if (l.outcome === 'waiting') {
      this.pages.inc(l.pages);
      return;
    }
    const labels = { queue: l.queue, task: l.task, ...this.labels, outcome: l.outcome };
    // Documents/s and job latency stay per document; a flow's parts are counted on their own.
    if (l.part) this.parts.inc({ queue: l.queue, outcome: l.outcome });
    else {
      this.jobs.inc(labels);
      this.duration.observe(labels, l.durationSeconds);
    }
    if (l.outcome !== 'completed') this.failures.inc({ queue: l.queue, task: l.task, reason: l.reason ?? 'internal' });
    this.tokens.inc({ ...this.labels, direction: 'in' }, l.tokensIn);
    this.tokens.inc({ ...this.labels, direction: 'out' }, l.tokensOut);
    this.totals.tokens += l.tokensIn + l.tokensOut;
    if (l.outcome !== 'retried') this.totals.jobsDone++;
    this.pages.inc(l.pages);
    const end = performance.now() / 1000;
    this.recent.push({ start: end - l.durationSeconds, end, tokensIn: l.tokensIn, tokensOut: l.tokensOut });
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** A job's tokens are spread over its run, so one long job does not show as a spike when it ends. */
  private updateTokenRate(): void {
    const from = performance.now() / 1000 - TOKENS_WINDOW_SECONDS;
    this.recent = this.recent.filter((j) => j.end > from);
    let tokensIn = 0;
    let tokensOut = 0;
    for (const j of this.recent) {
      const share = j.end > j.start ? (j.end - Math.max(j.start, from)) / (j.end - j.start) : 1;
      tokensIn += j.tokensIn * share;
      tokensOut += j.tokensOut * share;
    }
    this.tokensPerSecond.set({ direction: 'in' }, tokensIn / TOKENS_WINDOW_SECONDS);
    this.tokensPerSecond.set({ direction: 'out' }, tokensOut / TOKENS_WINDOW_SECONDS);
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: number[],
  ): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }
}
