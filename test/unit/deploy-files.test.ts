import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { QueueMetrics } from '../../src/producer/queue-exporter.js';
import { WorkerMetrics } from '../../src/worker/worker-metrics.js';
import { ROOT } from '../helpers/paths.js';

const DEPLOY = path.join(ROOT, 'deploy');
const ALERTS = path.join(DEPLOY, 'prometheus/alerts.yml');
const CONFIG = path.join(DEPLOY, 'prometheus/prometheus.yml');

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
const alerts = parse(readFileSync(ALERTS, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
type ScaledObject = {
  kind: string;
  metadata: { name: string };
  spec: { scaleTargetRef: { name: string }; triggers: { type: string; metadata: Record<string, string> }[] };
};
const scaledObjects = parseAllDocuments(readFileSync(path.join(ROOT, 'k8s/keda.yaml'), 'utf8'))
  .map((d) => d.toJS() as ScaledObject)
  .filter((o) => o?.kind === 'ScaledObject');

describe('Prometheus files', () => {
  it('alerts.yml passes promtool check rules', () => {
    const check = promtool('check', 'rules', ALERTS);
    expect(check.ok, check.output).toBe(true);
  });

  it('prometheus.yml passes promtool check config', () => {
    const check = promtool('check', 'config', CONFIG);
    expect(check.ok, check.output).toBe(true);
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
