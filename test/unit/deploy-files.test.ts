import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { QueueMetrics } from '../../src/producer/queue-exporter.js';
import { WorkerMetrics } from '../../src/worker/worker-metrics.js';
import { isSetting, type ScaledObject } from '../helpers/k8s-fleet.js';
import { OVERLAYS, renderOverlay } from '../helpers/kustomize.js';
import { ROOT } from '../helpers/paths.js';

const DEPLOY = path.join(ROOT, 'deploy');
const ALERTS = path.join(DEPLOY, 'prometheus/alerts.yml');
const ALERT_TESTS = path.join(DEPLOY, 'prometheus/alerts.test.yml');
const CONFIG = path.join(DEPLOY, 'prometheus/prometheus.yml');
const COMPOSE_CONFIG = path.join(DEPLOY, 'prometheus/compose.yml');
const COMPOSE = path.join(DEPLOY, 'compose.yaml');
const OPERATIONS = path.join(ROOT, 'docs/operations.md');

function promtool(...args: string[]): { ok: boolean; output: string } {
  const run = spawnSync('promtool', args, { encoding: 'utf8' });
  if (run.error)
    throw new Error(
      `cannot run promtool (install the Debian package \`prometheus\`: scripts/test-deps.sh): ${run.error.message}`,
    );
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

interface Dashboard {
  templating: { list: { name: string; type: string }[] };
  panels: {
    id: number;
    title: string;
    datasource: { uid: string };
    targets: { expr: string; datasource: { uid: string } }[];
  }[];
}
const dashboard = JSON.parse(readFileSync(path.join(DEPLOY, 'grafana/docfleet.json'), 'utf8')) as Dashboard;
interface AlertRule {
  alert: string;
  expr: string;
  annotations: Record<string, string>;
}
const alerts = parse(readFileSync(ALERTS, 'utf8')) as { groups: { rules: AlertRule[] }[] };
const alertRules = alerts.groups.flatMap((g) => g.rules);
// The ScaledObjects of every overlay, once each.
const scaledObjects = [
  ...new Map(
    OVERLAYS.flatMap((o) => renderOverlay(o))
      .filter((o) => o.kind === 'ScaledObject')
      .map((o) => [o.metadata.name, o as ScaledObject]),
  ).values(),
];

describe('Prometheus files', () => {
  it('alerts.yml passes promtool check rules', () => {
    const check = promtool('check', 'rules', ALERTS);
    expect(check.ok, check.output).toBe(true);
  });

  it('compose.yml passes promtool check config', () => {
    const check = promtool('check', 'config', COMPOSE_CONFIG);
    expect(check.ok, check.output).toBe(true);
  });

  it('prometheus.yml passes promtool check config, its Kubernetes discovery swapped for static targets', () => {
    // Debian's promtool is built without Kubernetes discovery; everything else (relabelling, rules) it checks.
    // k8s-manifests.test.ts checks what the discovery and relabelling make of each overlay's pods.
    const config = parse(readFileSync(CONFIG, 'utf8')) as {
      rule_files: string[];
      scrape_configs: Record<string, unknown>[];
    };
    config.rule_files = config.rule_files.map((f) => path.join(path.dirname(CONFIG), f));
    for (const job of config.scrape_configs) {
      if (!job.kubernetes_sd_configs) continue;
      delete job.kubernetes_sd_configs;
      job.static_configs = [{ targets: ['pod.docfleet:9464'] }];
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'docfleet-prom-'));
    try {
      writeFileSync(path.join(dir, 'prometheus.yml'), stringify(config));
      const check = promtool('check', 'config', path.join(dir, 'prometheus.yml'));
      expect(check.ok, check.output).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('alerts.test.yml passes promtool test rules, and has every alert fire at least once', () => {
    const run = promtool('test', 'rules', ALERT_TESTS);
    expect(run.ok, run.output).toBe(true);
    const tests = parse(readFileSync(ALERT_TESTS, 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    const fired = new Set(
      tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts?.length).map((a) => a.alertname)),
    );
    expect(alertRules.map((r) => r.alert).filter((a) => !fired.has(a))).toEqual([]);
  });

  it('gives every alert a runbook_url to its own section of docs/operations.md', () => {
    const headings = new Set(
      [...readFileSync(OPERATIONS, 'utf8').matchAll(/^#{2,4} (.+)$/gm)].map((m) => m[1]!.trim()),
    );
    for (const rule of alertRules) {
      expect(rule.annotations.runbook_url, rule.alert).toMatch(
        new RegExp(`/docs/operations\\.md#${rule.alert.toLowerCase()}$`),
      );
      expect(headings.has(rule.alert), `docs/operations.md has a section "${rule.alert}"`).toBe(true);
    }
  });
});

describe('KEDA queries', () => {
  // The GPU pool's trigger on a few queue states, evaluated by Prometheus's own engine (promtool's expression tests).
  const gpu = scaledObjects.find((o) => o.metadata.name === 'docfleet-worker-generate-gpu');
  const dir = mkdtempSync(path.join(tmpdir(), 'docfleet-keda-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const series = (queue: string, state: string, values: string) => ({
    series: `docfleet_queue_jobs{queue="${queue}", state="${state}", job="docfleet-exporter"}`,
    values,
  });
  const gpuWorkers = (values: string) => ({
    series: 'docfleet_workers{queue="docfleet-generate-gpu", job="docfleet-exporter"}',
    values,
  });

  it.each([
    {
      case: 'any-tagged work alone does not wake the GPU pool from zero',
      gpuWaiting: '0',
      anyWaiting: '40',
      workers: '0',
      expected: 0,
    },
    { case: 'gpu-tagged work wakes it', gpuWaiting: '3', anyWaiting: '40', workers: '0', expected: 3 },
    {
      case: 'once awake, it counts any-tagged work too',
      gpuWaiting: '3',
      anyWaiting: '40',
      workers: '2',
      expected: 43,
    },
    {
      case: 'awake with only any-tagged work left, it keeps counting it until KEDA cools down',
      gpuWaiting: '0',
      anyWaiting: '40',
      workers: '2',
      expected: 40,
    },
  ])('$case', ({ gpuWaiting, anyWaiting, workers, expected }) => {
    const query = gpu?.spec.triggers[0]?.metadata.query;
    expect(query).toBeDefined();
    const test = {
      rule_files: [],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            series('docfleet-generate-gpu', 'waiting', `${gpuWaiting}x5`),
            series('docfleet-generate-gpu', 'active', '0x5'),
            series('docfleet-generate-gpu', 'prioritized', '0x5'),
            series('docfleet-generate-any', 'waiting', `${anyWaiting}x5`),
            series('docfleet-generate-any', 'active', '0x5'),
            series('docfleet-generate-any', 'prioritized', '0x5'),
            series('docfleet-generate-cpu', 'waiting', '100x5'),
            gpuWorkers(`${workers}x5`),
          ],
          promql_expr_test: [{ expr: query, eval_time: '2m', exp_samples: [{ labels: '{}', value: expected }] }],
        },
      ],
    };
    const file = path.join(dir, 'keda.test.yml');
    writeFileSync(file, stringify(test));
    const run = promtool('test', 'rules', file);
    expect(run.ok, run.output).toBe(true);
  });
});

describe('generated manifests', () => {
  it('k8s/overlays/production/generated/ is what `npm run manifests` makes from deploy/', () => {
    const run = spawnSync(process.execPath, [path.join(ROOT, 'scripts/manifests.mjs'), '--check'], {
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
  });
});

describe('deploy/compose.yaml', () => {
  interface ComposeService {
    image?: string;
    command?: string[];
    environment?: Record<string, string>;
    volumes?: string[];
    stop_grace_period?: string;
  }
  const compose = parse(readFileSync(COMPOSE, 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
  const docfleet = Object.entries(compose.services).filter(([, s]) => s.image === 'docfleet:local' && s.environment);
  const seconds = (d: string) => Number(/^(\d+)s$/.exec(d)?.[1] ?? Number(/^(\d+)m$/.exec(d)?.[1]) * 60);

  it('is a valid compose file (docker-compose config, offline)', () => {
    const run = spawnSync('docker-compose', ['-f', COMPOSE, 'config', '-q'], { encoding: 'utf8' });
    if (run.error)
      throw new Error(`cannot run docker-compose (scripts/test-deps.sh installs it): ${run.error.message}`);
    expect(run.status, run.stderr).toBe(0);
  });

  it('has the whole fleet', () => {
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining([
        'redis',
        'models',
        'worker-cpu',
        'worker-embed',
        'exporter',
        'redis-exporter',
        'prometheus',
        'grafana',
      ]),
    );
  });

  it('sets in docfleet containers only settings config.ts knows, and the Redis password as a file', () => {
    expect(docfleet.length).toBeGreaterThanOrEqual(4);
    for (const [name, s] of docfleet) {
      for (const key of Object.keys(s.environment ?? {})) expect(isSetting(key), `${name}: ${key}`).toBe(true);
      expect(s.environment?.REDIS_PASSWORD_FILE, name).toMatch(/^\/run\/secrets\//);
    }
  });

  it('pulls the models the workers load, and stops workers after their grace period', () => {
    const models = JSON.stringify(compose.services.models?.command);
    for (const [name, s] of docfleet.filter(([, s]) => s.command?.[0] === 'worker')) {
      expect(models, name).toContain(path.basename(s.environment?.MODEL_PATH ?? 'none'));
      const graceMs = Number(s.environment?.DOCFLEET_GRACE_MS ?? 30_000);
      expect(
        seconds(s.stop_grace_period ?? '10s') * 1000 - graceMs,
        `${name}: margin after DOCFLEET_GRACE_MS`,
      ).toBeGreaterThanOrEqual(30_000);
    }
  });

  it('loads the shipped alerts, scrape jobs named as alerts.yml expects, and the dashboard', () => {
    expect(compose.services.prometheus?.volumes).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\.\/prometheus\/alerts\.yml:/)]),
    );
    expect(compose.services.grafana?.volumes).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\.\/grafana\/docfleet\.json:/)]),
    );
    const config = parse(readFileSync(COMPOSE_CONFIG, 'utf8')) as { scrape_configs: { job_name: string }[] };
    expect(config.scrape_configs.map((j) => j.job_name).sort()).toEqual([
      'docfleet-exporter',
      'docfleet-redis',
      'docfleet-worker',
    ]);
  });
});

describe('PromQL in deploy/ names real metrics', () => {
  const known = new Set<string>();
  const collect = async (registry: WorkerMetrics['registry']) => {
    for (const m of await registry.getMetricsAsJSON()) {
      known.add(m.name);
      // prom-client's typings declare a numeric enum; at run time `type` is the Prometheus type name.
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) known.add(m.name + s);
    }
  };
  const exprs = [
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel "${p.title}"`, expr: t.expr }))),
    ...alerts.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
    ...scaledObjects.flatMap((o) =>
      o.spec.triggers.map((t) => ({ where: `KEDA ${o.metadata.name}`, expr: t.metadata.query ?? '' })),
    ),
  ];

  beforeAll(async () => {
    await collect(new WorkerMetrics().registry);
    await collect(new QueueMetrics().registry);
  });

  it.each(exprs)('$where', ({ expr }) => {
    const names = expr.match(/\bdocfleet_\w+/g) ?? [];
    expect(names.filter((n) => !known.has(n))).toEqual([]);
  });
});

describe('Grafana dashboard', () => {
  it('takes its data source from a variable, as an importable dashboard must', () => {
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    for (const panel of dashboard.panels) {
      expect(panel.datasource.uid, panel.title).toBe('${datasource}');
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const t of panel.targets) expect(t.datasource.uid, panel.title).toBe('${datasource}');
    }
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
  });
});

describe('KEDA ScaledObjects', () => {
  it.each(scaledObjects.map((o) => ({ name: o.metadata.name, o })))(
    '$name scales on the exporter queue depth through Prometheus',
    ({ o }) => {
      const trigger = o.spec.triggers.find((t) => t.type === 'prometheus');
      expect(trigger?.metadata.query).toMatch(/docfleet_queue_jobs\{[^}]*state=~"waiting/);
      expect(Number(trigger?.metadata.threshold)).toBeGreaterThan(0);
    },
  );
});
