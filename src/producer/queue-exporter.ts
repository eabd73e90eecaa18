import { Queue } from 'bullmq';
import { Gauge, Registry } from 'prom-client';
import { allQueueNames } from '../shared/queue-layout.js';
import { serve, text, type HttpEndpoint } from '../shared/http-endpoint.js';
import type { AvailabilityListener } from '../shared/redis-availability.js';
import { RedisConnection, type RedisSettings } from '../shared/redis-connection.js';

export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

export interface QueueSnapshot {
  queue: string;
  counts: Record<QueueState, number>;
  /** Age of the job next in line (0 when none waits), counted from when it was first added. */
  oldestWaitingAgeSeconds: number;
  workers: number;
}

/** The fleet-wide queue metrics; kept apart from Redis so their names can be checked without one. */
export class QueueMetrics {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;
  private readonly jobs = new Gauge({
    name: 'docfleet_queue_jobs',
    help: 'Jobs in each queue, by BullMQ state.',
    labelNames: ['queue', 'state'] as const,
    registers: [this.registry],
  });
  private readonly oldest = new Gauge({
    name: 'docfleet_queue_oldest_waiting_age_seconds',
    help: 'Age of the job next in line in the wait list (0 when empty).',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  private readonly workers = new Gauge({
    name: 'docfleet_workers',
    help: 'BullMQ workers connected to each queue.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });

  update(snapshots: QueueSnapshot[]): void {
    for (const s of snapshots) {
      for (const state of QUEUE_STATES) this.jobs.set({ queue: s.queue, state }, s.counts[state]);
      this.oldest.set({ queue: s.queue }, s.oldestWaitingAgeSeconds);
      this.workers.set({ queue: s.queue }, s.workers);
    }
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

export interface QueueExporterOptions {
  redis: RedisSettings;
  /** BullMQ key prefix of the fleet. */
  prefix: string;
  port: number;
  host?: string;
  /** How long one reading of Redis serves scrapes, ms; several Prometheus replicas then cost one. @defaultValue 1000 */
  intervalMs?: number;
  /** Told about Redis errors; a scrape during one gets a 503. */
  onError?: (err: Error) => void;
  /** Told once when Redis goes away and once when it is back (the exporter keeps retrying meanwhile). */
  onAvailability?: AvailabilityListener;
}

/** Longer than this and Prometheus (10 s scrape timeout by default) would give up first. */
const READ_TIMEOUT_MS = 5_000;

/**
 * Serves queue depth for the whole fleet from one process, so that depth is counted once rather than
 * by every worker, and KEDA and alerts have one series per queue. Redis is read on scrape, not on a timer.
 */
export async function startQueueExporter(opts: QueueExporterOptions): Promise<HttpEndpoint> {
  const redis = new RedisConnection(opts.redis, 'service');
  if (opts.onAvailability) redis.availability.onChange(opts.onAvailability);
  const connection = redis.client;
  // Connection errors repeat on every reconnect attempt, on the connection and on each queue; the
  // availability reports an outage once and a failed scrape once per scrape.
  const ignore = () => {};
  const queues = allQueueNames().map((name) =>
    new Queue(name, { connection, prefix: opts.prefix }).on('error', ignore),
  );
  const metrics = new QueueMetrics();
  const intervalMs = opts.intervalMs ?? 1000;
  let freshUntil = 0;
  let reading: Promise<void> | undefined;

  const read = async () => {
    metrics.update(await withTimeout(Promise.all(queues.map(snapshot)), READ_TIMEOUT_MS));
    freshUntil = Date.now() + intervalMs;
  };
  const refresh = () => {
    if (Date.now() < freshUntil) return Promise.resolve();
    reading ??= read().finally(() => (reading = undefined));
    return reading;
  };

  const endpoint = await serve(
    {
      '/metrics': async () => {
        // Fail fast while Redis is away instead of queueing a reading behind a scrape that will give up.
        if (!redis.availability.available) return text(503, `Redis at ${redis.displayUrl} is unavailable`);
        try {
          await refresh();
        } catch (err) {
          const error = err instanceof Error ? err : new Error(String(err));
          opts.onError?.(error);
          return text(503, `cannot read queues from Redis: ${error.message}`);
        }
        return { status: 200, contentType: metrics.contentType, body: await metrics.metrics() };
      },
      '/healthz': () => Promise.resolve(text(200, 'ok')),
    },
    opts.port,
    opts.host,
  );
  return {
    port: endpoint.port,
    close: async () => {
      await endpoint.close();
      await Promise.all(queues.map((q) => q.close()));
      redis.close();
    },
  };
}

async function snapshot(queue: Queue): Promise<QueueSnapshot> {
  const [counts, [next], workers] = await Promise.all([
    queue.getJobCounts(...QUEUE_STATES),
    // Ascending order puts the wait list's oldest entry, the next to be taken, first.
    queue.getJobs(['waiting'], 0, 0, true),
    queue.getWorkersCount(),
  ]);
  return {
    queue: queue.name,
    counts: counts as Record<QueueState, number>,
    oldestWaitingAgeSeconds: next ? Math.max(0, (Date.now() - next.timestamp) / 1000) : 0,
    workers,
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
