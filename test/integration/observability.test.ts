import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startQueueExporter } from '../../src/producer/queue-exporter.js';
import { Producer } from '../../src/producer/producer.js';
import { batchStatus } from '../../src/producer/batch-control.js';
import { loadProducerConfig } from '../../src/shared/config.js';
import { queueName } from '../../src/shared/queue-layout.js';
import type { HttpEndpoint } from '../../src/shared/http-endpoint.js';
import { startHealthServer } from '../../src/worker/health-server.js';
import { WorkerMetrics } from '../../src/worker/worker-metrics.js';
import { startWorker, waitFor, type WorkerProcess } from '../helpers/fleet.js';
import type { ScaledObject } from '../helpers/k8s-fleet.js';
import { renderOverlay } from '../helpers/kustomize.js';
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
const alertRules = (
  parse(readFileSync(ALERTS, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }
).groups.flatMap((g) => g.rules);
// The gpu overlay renders every pool's ScaledObject.
const kedaQueries = renderOverlay('gpu')
  .filter((o) => o.kind === 'ScaledObject')
  .flatMap((o) => (o as unknown as ScaledObject).spec.triggers.map((t) => t.metadata.query ?? ''));

/** What Grafana would put in place of its variables, with every template variable on "All". */
function substitute(expr: string): string {
  const values: Record<string, string> = { __rate_interval: '30s', __interval: '1s', __range: '5m' };
  for (const v of dashboard.templating.list) if (v.allValue) values[v.name] = v.allValue;
  const out = expr.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (whole, braced?: string, bare?: string) => values[(braced ?? bare)!] ?? whole,
  );
  if (out.includes('$')) throw new Error(`unknown variable in ${expr}`);
  return out;
}

const finite = (series: PromSeries[]) =>
  series
    .flatMap((s) => (s.values ?? (s.value ? [s.value] : [])).map(([, v]) => Number(v)))
    .filter((v) => Number.isFinite(v));

const QUEUE = queueName('generate', 'any');
/** A queue nobody serves, so that "no workers for a queue with waiting jobs" has something to show. */
const ORPHAN = queueName('embed', 'gpu');
const SAMPLES = path.join(ROOT, 'samples');
const BROKEN = path.join(ROOT, 'test/fixtures/not-a-pdf.pdf');
/** Five sample contracts and one broken document, summarised by a real worker. */
const JOBS = 6;

describe('observability stack', () => {
  let redis: TestRedis;
  let prometheus: TestPrometheus;
  let exporter: HttpEndpoint;
  let producer: Producer;
  let worker: WorkerProcess;
  const prefix = freshPrefix('obs');

  beforeAll(async () => {
    redis = await startRedis();
    producer = new Producer(loadProducerConfig({ REDIS_URL: redis.url, DOCFLEET_PREFIX: prefix }));
    exporter = await startQueueExporter({
      redis: loadProducerConfig({ REDIS_URL: redis.url }),
      prefix,
      port: 0,
      host: '127.0.0.1',
      intervalMs: 500,
    });
    worker = await startWorker({ url: redis.url, prefix }, [
      '--concurrency',
      '2',
      '--role',
      'generate',
      '--tag',
      'cpu',
    ]);
    prometheus = await startPrometheus({
      jobs: {
        'docfleet-worker': [`127.0.0.1:${worker.metricsPort}`],
        'docfleet-exporter': [`127.0.0.1:${exporter.port}`],
      },
      ruleFiles: [ALERTS],
    });
  });

  /* eslint-disable @typescript-eslint/no-unnecessary-condition -- a hook above may have failed before setting all of these; what was started is still stopped */
  afterAll(async () => {
    await worker?.stop();
    await producer?.close();
    await prometheus?.stop();
    await exporter?.close();
    await redis?.stop();
  });
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */

  it('answers probes: alive at once, ready only once the model is loaded', async () => {
    let ready = false;
    const metrics = new WorkerMetrics();
    const health = await startHealthServer({ port: 0, host: '127.0.0.1', metrics, ready: () => ready });
    try {
      const get = (p: string) => fetch(`http://127.0.0.1:${health.port}${p}`).then((r) => r.status);
      expect(await get('/healthz')).toBe(200);
      expect(await get('/readyz')).toBe(503);
      ready = true;
      expect(await get('/readyz')).toBe(200);
    } finally {
      await health.close();
    }
    const real = (p: string) => fetch(`http://127.0.0.1:${worker.metricsPort}${p}`).then((r) => r.status);
    expect(await real('/readyz')).toBe(200);
    expect(await real('/healthz')).toBe(200);
  });

  it('runs a batch through a real worker while Prometheus scrapes it and the exporter', async () => {
    await until(async () => (await prometheus.query('up == 1')).length === 2, 'both targets up');
    // Work for a pool that has no worker, so that the "no workers" alert has something to find.
    await producer.submit([path.join(SAMPLES, 'mutual-nda.txt')], { tasks: ['embed'], tag: 'gpu' });
    const { batch } = await producer.submit([SAMPLES, BROKEN], { tasks: ['summarize'], tag: 'any' });
    await waitFor(async () => (await batchStatus(producer, batch)).done, 120_000, 'the batch to finish');
    expect(await batchStatus(producer, batch)).toMatchObject({ total: JOBS, completed: JOBS - 1, failed: 1 });
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
    for (const title of [
      'Throughput (documents/s)',
      'Tokens/s',
      'Job latency',
      'Queue depth',
      'Busy sequences per worker',
    ]) {
      const panel = dashboard.panels.find((p) => p.title === title);
      expect(panel, title).toBeDefined();
      for (const target of panel!.targets)
        expect(finite(results.get(target.expr)!).length, `${title}: ${target.expr}`).toBeGreaterThan(0);
    }
    const throughput = dashboard.panels.find((p) => p.title === 'Throughput (documents/s)')!.targets[0]!.expr;
    expect(Math.max(...finite(results.get(throughput)!))).toBeGreaterThan(0);
  });

  it('accepts every alert and KEDA query, and flags the queue without workers', async () => {
    const errors: string[] = [];
    const answers = new Map<string, PromSeries[]>();
    for (const { alert, expr } of [
      ...alertRules.map((r) => ({ alert: r.alert, expr: r.expr })),
      ...kedaQueries.map((expr) => ({ alert: 'KEDA', expr })),
    ]) {
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
    expect(
      Object.values(health).every((h) => h === 'ok' || h === 'unknown'),
      JSON.stringify(health),
    ).toBe(true);
  });

  it('exports depth, oldest waiting age and workers per queue', async () => {
    const body = await fetch(`http://127.0.0.1:${exporter.port}/metrics`).then((r) => r.text());
    expect(body).toContain(`docfleet_queue_jobs{queue="${ORPHAN}",state="waiting"} 1`);
    expect(body).toContain(`docfleet_queue_jobs{queue="${QUEUE}",state="failed"} 1`);
    expect(body).toContain(`docfleet_workers{queue="${QUEUE}"} 1`);
    expect(body).toContain(`docfleet_workers{queue="${ORPHAN}"} 0`);
    expect(
      Number(new RegExp(`docfleet_queue_oldest_waiting_age_seconds\\{queue="${ORPHAN}"\\} (\\S+)`).exec(body)?.[1]),
    ).toBeGreaterThan(0);
  });
});

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
