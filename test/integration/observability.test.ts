import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startQueueExporter } from '../../src/producer/queue-exporter.js';
import { PermanentError, categoryOf } from '../../src/shared/errors.js';
import type { TaskName } from '../../src/shared/job-types.js';
import { queueName } from '../../src/shared/queue-layout.js';
import type { HttpEndpoint } from '../../src/shared/http-endpoint.js';
import { startHealthServer } from '../../src/worker/health-server.js';
import { WorkerMetrics } from '../../src/worker/worker-metrics.js';
import { ROOT } from '../helpers/paths.js';
import { startPrometheus, type PromSeries, type TestPrometheus } from '../helpers/prometheus.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * Real Redis, BullMQ, exporter, worker metrics and Prometheus: every query the dashboard, the alerts
 * and KEDA ship must be accepted by Prometheus, and the main panels must show the work done here.
 */

const DEPLOY = path.join(ROOT, 'deploy');
const ALERTS = path.join(DEPLOY, 'prometheus/alerts.yml');

interface Panel {
  title: string;
  targets: { expr: string }[];
}
const dashboard = JSON.parse(readFileSync(path.join(DEPLOY, 'grafana/docfleet.json'), 'utf8')) as {
  panels: Panel[];
  templating: { list: { name: string; allValue?: string }[] };
};
const alertRules = (parse(readFileSync(ALERTS, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap(
  (g) => g.rules,
);
const kedaQuery = (parse(readFileSync(path.join(DEPLOY, 'keda/scaledobject.yaml'), 'utf8')) as {
  spec: { triggers: { metadata: { query: string } }[] };
}).spec.triggers[0]!.metadata.query;

/** What Grafana would put in place of its variables, with every template variable on "All". */
function substitute(expr: string): string {
  const values: Record<string, string> = { __rate_interval: '30s', __interval: '1s', __range: '5m' };
  for (const v of dashboard.templating.list) if (v.allValue) values[v.name] = v.allValue;
  const out = expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => values[(braced ?? bare)!] ?? whole);
  if (out.includes('$')) throw new Error(`unknown variable in ${expr}`);
  return out;
}

const finite = (series: PromSeries[]) =>
  series.flatMap((s) => (s.values ?? (s.value ? [s.value] : [])).map(([, v]) => Number(v))).filter((v) => Number.isFinite(v));

const MODEL = 'stories260K';
const QUEUE = queueName('generate', 'cpu');
/** A queue nobody serves, so that "no workers for a queue with waiting jobs" has something to show. */
const ORPHAN = queueName('embed', 'gpu');
const JOBS = 24;

describe('observability stack', () => {
  let redis: TestRedis;
  let connection: Redis;
  let prometheus: TestPrometheus;
  let exporter: HttpEndpoint;
  let health: HttpEndpoint;
  let queue: Queue;
  let orphan: Queue;
  let worker: Worker;
  let ready = false;
  const metrics = new WorkerMetrics();
  const prefix = freshPrefix('obs');

  beforeAll(async () => {
    redis = await startRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    exporter = await startQueueExporter({ redisUrl: redis.url, prefix, port: 0, host: '127.0.0.1', intervalMs: 500 });
    health = await startHealthServer({ port: 0, host: '127.0.0.1', metrics, ready: () => ready });
    prometheus = await startPrometheus({
      jobs: { 'docfleet-worker': [`127.0.0.1:${health.port}`], 'docfleet-exporter': [`127.0.0.1:${exporter.port}`] },
      ruleFiles: [ALERTS],
    });
    queue = new Queue(QUEUE, { connection, prefix });
    orphan = new Queue(ORPHAN, { connection, prefix });
  });

  afterAll(async () => {
    await worker?.close();
    await queue?.close();
    await orphan?.close();
    await prometheus?.stop();
    await exporter?.close();
    await health?.close();
    connection?.disconnect();
    await redis?.stop();
  });

  it('answers probes: alive at once, ready only once the model is loaded', async () => {
    const get = (p: string) => fetch(`http://127.0.0.1:${health.port}${p}`).then((r) => r.status);
    expect(await get('/healthz')).toBe(200);
    expect(await get('/readyz')).toBe(503);
    metrics.setModel({ model: MODEL, device: 'cpu', role: 'generate', tag: 'cpu', threads: 2, sequences: 2, contextSize: 512, loadSeconds: 0.4, cpuBudget: 2 });
    ready = true;
    expect(await get('/readyz')).toBe(200);
  });

  it('runs jobs through BullMQ while Prometheus scrapes both targets', async () => {
    await until(async () => (await prometheus.query('up == 1')).length === 2, 'both targets up');
    worker = new Worker(
      QUEUE,
      async (job: Job<{ task: TaskName; fail: boolean }>) => {
        const started = Date.now();
        metrics.jobStarted({ queue: job.queueName, task: job.data.task, waitSeconds: (started - job.timestamp) / 1000 });
        await new Promise((r) => setTimeout(r, 150 + (Number(job.id) % 5) * 50));
        const base = { queue: job.queueName, task: job.data.task, durationSeconds: (Date.now() - started) / 1000, pages: 2 };
        if (job.data.fail) {
          const err = new PermanentError('malformed', 'broken document');
          metrics.jobFinished({ ...base, outcome: 'failed', reason: categoryOf(err), tokensIn: 0, tokensOut: 0 });
          throw err;
        }
        metrics.jobFinished({ ...base, outcome: 'completed', tokensIn: 400, tokensOut: 60 });
      },
      { connection, prefix, concurrency: 2 },
    );
    await orphan.addBulk([1, 2, 3].map((i) => ({ name: 'embed', data: { task: 'embed', i } })));
    await queue.addBulk(Array.from({ length: JOBS }, (_, i) => ({ name: 'doc', data: { task: 'summarize', fail: i % 8 === 7 }, opts: { attempts: 1 } })));
    await until(async () => {
      const counts = await queue.getJobCounts('completed', 'failed');
      return counts.completed! + counts.failed! === JOBS;
    }, 'all jobs finished');
    // Let Prometheus scrape the final counts.
    await until(
      async () => finite(await prometheus.query(`sum(docfleet_jobs_total{queue="${QUEUE}"})`)).includes(JOBS),
      'final counts scraped',
    );
  });

  it('accepts every dashboard query, and the throughput and latency panels show data', async () => {
    const end = new Date();
    const start = new Date(end.getTime() - 60_000);
    const errors: string[] = [];
    const results = new Map<string, PromSeries[]>();
    for (const panel of dashboard.panels)
      for (const target of panel.targets) {
        try {
          results.set(target.expr, await prometheus.queryRange(substitute(target.expr), start, end, 1));
        } catch (err) {
          errors.push(`panel "${panel.title}": ${(err as Error).message}\n  ${target.expr}`);
        }
      }
    expect(errors).toEqual([]);
    for (const title of ['Throughput (documents/s)', 'Tokens/s', 'Job latency', 'Queue depth', 'Busy sequences per worker']) {
      const panel = dashboard.panels.find((p) => p.title === title);
      expect(panel, title).toBeDefined();
      for (const target of panel!.targets) expect(finite(results.get(target.expr)!).length, `${title}: ${target.expr}`).toBeGreaterThan(0);
    }
    const throughput = dashboard.panels.find((p) => p.title === 'Throughput (documents/s)')!.targets[0]!.expr;
    expect(Math.max(...finite(results.get(throughput)!))).toBeGreaterThan(0);
  });

  it('accepts every alert and KEDA query, and flags the queue without workers', async () => {
    const errors: string[] = [];
    const answers = new Map<string, PromSeries[]>();
    for (const { alert, expr } of [...alertRules.map((r) => ({ alert: r.alert, expr: r.expr })), { alert: 'KEDA', expr: kedaQuery }]) {
      try {
        answers.set(alert, await prometheus.query(expr));
      } catch (err) {
        errors.push(`${alert}: ${(err as Error).message}`);
      }
    }
    expect(errors).toEqual([]);
    expect(answers.get('DocfleetNoWorkers')!.map((s) => s.metric.queue)).toEqual([ORPHAN]);
    expect(answers.get('DocfleetWorkerDown')).toEqual([]);
    expect(answers.get('DocfleetExporterDown')).toEqual([]);
    expect(finite(answers.get('KEDA')!)).toHaveLength(1);
    await until(async () => Object.keys(await prometheus.ruleHealth()).length === alertRules.length, 'rules loaded');
    const health = await prometheus.ruleHealth();
    expect(Object.values(health).every((h) => h === 'ok' || h === 'unknown'), JSON.stringify(health)).toBe(true);
  });

  it('exports depth, oldest waiting age and workers per queue', async () => {
    const body = await fetch(`http://127.0.0.1:${exporter.port}/metrics`).then((r) => r.text());
    expect(body).toContain(`docfleet_queue_jobs{queue="${ORPHAN}",state="waiting"} 3`);
    expect(body).toContain(`docfleet_queue_jobs{queue="${QUEUE}",state="failed"} ${JOBS / 8}`);
    expect(body).toContain(`docfleet_workers{queue="${QUEUE}"} 1`);
    expect(body).toContain(`docfleet_workers{queue="${ORPHAN}"} 0`);
    expect(Number(new RegExp(`docfleet_queue_oldest_waiting_age_seconds\\{queue="${ORPHAN}"\\} (\\S+)`).exec(body)?.[1])).toBeGreaterThan(0);
  });
});

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
