import { describe, expect, it } from 'vitest';
import { QUEUE_STATES, QueueMetrics } from '../../src/producer/queue-exporter.js';
import { allQueueNames } from '../../src/shared/queue-layout.js';
import { WorkerMetrics } from '../../src/worker/worker-metrics.js';

/**
 * Dashboards, alerts and the KEDA query name these metrics and labels: renaming one here must be
 * a decision that also updates deploy/.
 */

interface Family {
  type: string;
  labels: string[];
}

/** docfleet_* families as Prometheus sees them: type and the label names their samples carry. */
function families(exposition: string): Record<string, Family> {
  const out: Record<string, Family> = {};
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE (docfleet_\w+) (\w+)$/.exec(line);
    if (type) out[type[1]!] = { type: type[2]!, labels: [] };
    const sample = /^(docfleet_\w+?)(_bucket|_sum|_count)?(?:\{(.*)\})? \S+$/.exec(line);
    if (!sample) continue;
    const family = out[sample[1]!] ?? out[sample[1]! + (sample[2] ?? '')];
    const names = [...(sample[3] ?? '').matchAll(/(\w+)="/g)].map((m) => m[1]!).filter((l) => l !== 'le');
    if (family) family.labels = [...new Set([...family.labels, ...names])].sort();
  }
  return out;
}

function seriesCount(exposition: string): number {
  return exposition.split('\n').filter((l) => l.startsWith('docfleet_')).length;
}

const MODEL = {
  model: 'qwen2.5-0.5b-instruct-q4_k_m',
  device: 'cpu',
  role: 'generate',
  tag: 'cpu',
  threads: 4,
  sequences: 4,
  contexts: 1,
  contextSize: 4096,
  loadSeconds: 3.2,
  cpuBudget: 4,
} as const;

function exercise(metrics: WorkerMetrics, jobs: number): void {
  for (let i = 0; i < jobs; i++) {
    metrics.jobStarted({ queue: 'docfleet-generate-cpu', task: 'summarize', waitSeconds: i });
    const outcome = (['completed', 'failed', 'retried'] as const)[i % 3]!;
    const reason = outcome === 'completed' ? undefined : ('inference-failed' as const);
    metrics.jobFinished({
      queue: 'docfleet-generate-cpu',
      task: 'summarize',
      outcome,
      reason,
      durationSeconds: 2,
      tokensIn: 900,
      tokensOut: 120,
      pages: 3,
    });
  }
}

describe('WorkerMetrics', () => {
  it('exposes exactly these docfleet_ metrics and labels', async () => {
    const metrics = new WorkerMetrics();
    metrics.setModel(MODEL);
    exercise(metrics, 3);
    expect(families(await metrics.metrics())).toEqual({
      docfleet_model_info: { type: 'gauge', labels: ['device', 'model', 'role', 'tag'] },
      docfleet_model_load_seconds: { type: 'gauge', labels: ['model'] },
      docfleet_context_size_tokens: { type: 'gauge', labels: [] },
      docfleet_sequences: { type: 'gauge', labels: [] },
      docfleet_sequences_busy: { type: 'gauge', labels: [] },
      docfleet_cpu_threads: { type: 'gauge', labels: [] },
      docfleet_contexts: { type: 'gauge', labels: [] },
      docfleet_cpu_budget_cores: { type: 'gauge', labels: [] },
      docfleet_job_wait_seconds: { type: 'histogram', labels: ['queue', 'task'] },
      docfleet_jobs_total: { type: 'counter', labels: ['model', 'outcome', 'queue', 'tag', 'task'] },
      docfleet_job_failures_total: { type: 'counter', labels: ['queue', 'reason', 'task'] },
      docfleet_flow_parts_total: { type: 'counter', labels: ['outcome', 'queue'] },
      docfleet_job_duration_seconds: { type: 'histogram', labels: ['model', 'outcome', 'queue', 'tag', 'task'] },
      docfleet_tokens_total: { type: 'counter', labels: ['direction', 'model', 'tag'] },
      docfleet_pages_parsed_total: { type: 'counter', labels: [] },
      docfleet_tokens_per_second: { type: 'gauge', labels: ['direction'] },
    });
  });

  it('keeps Node process metrics for CPU and memory panels', async () => {
    const text = await new WorkerMetrics().metrics();
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toMatch(/^process_resident_memory_bytes /m);
  });

  it('adds no series as more jobs go through (no per-job labels)', async () => {
    const metrics = new WorkerMetrics();
    metrics.setModel(MODEL);
    exercise(metrics, 3);
    const before = seriesCount(await metrics.metrics());
    exercise(metrics, 300);
    expect(seriesCount(await metrics.metrics())).toBe(before);
  });

  it('starts the served queues at zero so rate() sees the first job', async () => {
    const metrics = new WorkerMetrics();
    metrics.setModel({ ...MODEL, role: 'embed', tag: 'gpu' });
    const text = await metrics.metrics();
    expect(text).toContain(
      `docfleet_jobs_total{queue="docfleet-embed-any",task="embed",tag="gpu",model="${MODEL.model}",outcome="completed"} 0`,
    );
    expect(text).not.toMatch(/docfleet_jobs_total\{[^}]*task="summarize"/);
  });

  it('reports recent tokens per second and busy sequences', async () => {
    const metrics = new WorkerMetrics();
    metrics.setModel(MODEL);
    metrics.jobStarted({ queue: 'docfleet-generate-cpu', task: 'extract', waitSeconds: 0.5 });
    metrics.jobStarted({ queue: 'docfleet-generate-cpu', task: 'extract', waitSeconds: 0.5 });
    metrics.jobFinished({
      queue: 'docfleet-generate-cpu',
      task: 'extract',
      outcome: 'completed',
      durationSeconds: 10,
      tokensIn: 3000,
      tokensOut: 600,
      pages: 2,
    });
    const text = await metrics.metrics();
    expect(text).toContain('docfleet_sequences_busy 1');
    // 30 s window: 3000 tokens in and 600 out over it.
    const rate = (direction: string) =>
      Number(new RegExp(`^docfleet_tokens_per_second\\{direction="${direction}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(rate('in')).toBeCloseTo(100, 6);
    expect(rate('out')).toBeCloseTo(20, 6);
  });
});

describe('queue exporter metrics', () => {
  it('exposes exactly these docfleet_ metrics and labels, for every queue and state', async () => {
    const metrics = new QueueMetrics();
    const counts = Object.fromEntries(QUEUE_STATES.map((s) => [s, 1])) as Record<(typeof QUEUE_STATES)[number], number>;
    metrics.update(allQueueNames().map((queue) => ({ queue, counts, oldestWaitingAgeSeconds: 5, workers: 2 })));
    const text = await metrics.metrics();
    expect(families(text)).toEqual({
      docfleet_queue_jobs: { type: 'gauge', labels: ['queue', 'state'] },
      docfleet_queue_oldest_waiting_age_seconds: { type: 'gauge', labels: ['queue'] },
      docfleet_workers: { type: 'gauge', labels: ['queue'] },
    });
    expect(QUEUE_STATES).toEqual(['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed']);
    expect(seriesCount(text)).toBe(allQueueNames().length * (QUEUE_STATES.length + 2));
  });
});
