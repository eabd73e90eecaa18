import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Fleet, matches, type Container, type ScaledObject, type Workload } from '../helpers/k8s-fleet.js';
import { renderKustomization, renderOverlay, type RenderedObject } from '../helpers/kustomize.js';
import { expectedJob, fromOperator, podTargets, relabel } from '../helpers/scrape-targets.js';
import { ROOT } from '../helpers/paths.js';

/**
 * What the production overlay adds to the fleet, checked on what it renders: the Redis password and CA reach every
 * component as files from Secrets, NetworkPolicies and PDBs cover what they must, and the Prometheus Operator
 * objects agree with the pods, the alerts and the dashboard in deploy/.
 */

const rendered = renderOverlay('production');
const fleet = new Fleet(rendered);
/** The fleet with the example producer Job (k8s/examples/producer) next to it, as it is applied. */
const producer = new Fleet([...rendered, ...renderKustomization('examples/producer')]);

interface NetworkPolicy extends RenderedObject {
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    ingress?: {
      from: { podSelector?: { matchLabels: Record<string, string> }; namespaceSelector?: object }[];
      ports: { port: number }[];
    }[];
  };
}
interface PodMonitor extends RenderedObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    podMetricsEndpoints: {
      port: string;
      relabelings: { sourceLabels?: string[]; targetLabel: string; replacement?: string }[];
    }[];
  };
}

/** Where a file path lands: the Secret and key of the projected volume mounted over it, if any. */
function secretBehind(w: Workload, c: Container, file: string): string | undefined {
  const mount = c.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
  if (!mount) return undefined;
  const relative = file.slice(mount.mountPath.length + 1);
  const volume = w.spec.template.spec.volumes?.find((v) => v.name === mount.name);
  for (const source of volume?.projected?.sources ?? []) {
    const item = source.secret?.items?.find((i) => i.path === relative);
    if (item) return `${source.secret!.name}/${item.key}`;
  }
  return undefined;
}

describe('k8s/overlays/production', () => {
  it('gives every docfleet component the Redis password and CA as files from the Secrets, over TLS', () => {
    const clients = [
      ...fleet.cli,
      ...producer.workloads
        .filter((w) => w.metadata.name === 'docfleet-submit-example')
        .map((obj) => ({ obj, c: obj.spec.template.spec.containers[0]! })),
    ];
    expect(clients.length).toBeGreaterThanOrEqual(5);
    for (const { obj, c } of clients) {
      const env = producer.environment(c);
      const where = `${obj.metadata.name}/${c.name}`;
      expect(env.get('REDIS_URL'), where).toMatch(/^rediss:\/\//);
      expect(secretBehind(obj, c, env.get('REDIS_PASSWORD_FILE') ?? ''), where).toBe('docfleet-redis/password');
      expect(secretBehind(obj, c, env.get('REDIS_CA_FILE') ?? ''), where).toBe('docfleet-redis-tls/ca.crt');
    }
  });

  it('starts Redis with the password and TLS from the same Secrets, and prints the password nowhere', () => {
    const redis = fleet.named<Workload>('StatefulSet', 'redis')!;
    const [server, sidecar] = redis.spec.template.spec.containers;
    const script = server!.command?.join(' ') ?? '';
    const files: [string, string][] = [
      ['password', 'docfleet-redis/password'],
      ['tls.crt', 'docfleet-redis-tls/tls.crt'],
      ['tls.key', 'docfleet-redis-tls/tls.key'],
      ['ca.crt', 'docfleet-redis-tls/ca.crt'],
    ];
    for (const [file, secret] of files) {
      const used = new RegExp(`(/\\S+/${file.replace('.', '\\.')})\\b`).exec(script)?.[1];
      expect(secretBehind(redis, server!, used ?? ''), file).toBe(secret);
    }
    expect(script).toMatch(/^port 0$/m);
    expect(script).toMatch(/^tls-port 6379$/m);
    expect(sidecar?.env?.find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({
      name: 'docfleet-redis',
      key: 'password',
    });
    expect(sidecar?.env?.find((e) => e.name === 'REDIS_ADDR')?.value).toMatch(/^rediss:\/\//);
    // No password in plain text anywhere in the rendered manifests (the Secrets are created by hand).
    for (const o of fleet.objects) expect(o.kind, o.metadata.name).not.toBe('Secret');
    for (const w of fleet.workloads) {
      for (const c of w.spec.template.spec.containers) {
        for (const e of c.env ?? [])
          if (/PASSWORD(?!_FILE)/.test(e.name)) expect(e.value, `${w.metadata.name}: ${e.name}`).toBeUndefined();
      }
    }
  });

  it('lets only fleet pods reach Redis and only Prometheus the metrics ports', () => {
    const policies = fleet.ofKind<NetworkPolicy>('NetworkPolicy');
    expect(
      policies.find((p) => Object.keys(p.spec.podSelector.matchLabels ?? {}).length === 0 && !p.spec.ingress),
    ).toBeDefined();

    const redis = fleet.named<Workload>('StatefulSet', 'redis')!;
    const toRedis = policies.filter((p) =>
      matches(p.spec.podSelector.matchLabels ?? {}, redis.spec.template.metadata.labels),
    );
    const redisPort = redis.spec.template.spec.containers[0]!.ports![0]!.containerPort;
    const redisRule = toRedis
      .flatMap((p) => p.spec.ingress ?? [])
      .find((r) => r.ports.some((p) => p.port === redisPort));
    expect(redisRule).toBeDefined();
    // Every Redis client pod, the example producer included, is admitted.
    const clients = producer.workloads.filter(
      (w) => w.metadata.name !== 'redis' && w.metadata.name !== 'docfleet-models',
    );
    for (const w of clients) {
      const admitted = redisRule!.from.some(
        (f) =>
          f.podSelector && !f.namespaceSelector && matches(f.podSelector.matchLabels, w.spec.template.metadata.labels),
      );
      expect(admitted, w.metadata.name).toBe(true);
    }

    // Every metrics port is open to Prometheus only.
    for (const w of fleet.workloads) {
      for (const c of w.spec.template.spec.containers) {
        for (const p of c.ports ?? []) {
          if (!/metrics/.test(p.name ?? '')) continue;
          const rules = policies
            .filter((np) => matches(np.spec.podSelector.matchLabels ?? {}, w.spec.template.metadata.labels))
            .flatMap((np) => np.spec.ingress ?? [])
            .filter((r) => r.ports.some((rp) => rp.port === p.containerPort));
          expect(rules.length, `${w.metadata.name}: ${p.name}`).toBeGreaterThan(0);
          for (const r of rules)
            for (const f of r.from) expect(f.namespaceSelector, `${w.metadata.name}: ${p.name} from`).toBeDefined();
        }
      }
    }
  });

  it('protects Redis and each worker pool with one PodDisruptionBudget', () => {
    const pdbs = fleet.ofKind<RenderedObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(
      'PodDisruptionBudget',
    );
    const protectedWorkloads = [fleet.named<Workload>('StatefulSet', 'redis')!, ...fleet.workers.map(({ obj }) => obj)];
    for (const w of protectedWorkloads) {
      const mine = pdbs.filter((p) => matches(p.spec.selector.matchLabels, w.spec.template.metadata.labels));
      expect(
        mine.map((p) => p.metadata.name),
        w.metadata.name,
      ).toHaveLength(1);
    }
  });

  it('scrapes every metrics port once through the PodMonitor, as the job the alerts expect, named by pod', () => {
    const [monitor, ...others] = fleet.ofKind<PodMonitor>('PodMonitor');
    expect(others).toEqual([]);
    for (const w of fleet.workloads) {
      const selected = matches(monitor!.spec.selector.matchLabels, w.spec.template.metadata.labels);
      for (const target of podTargets(w)) {
        const port = target.__meta_kubernetes_pod_container_port_name;
        // The operator keeps the pods its selector matches, at the endpoint's port name, then applies its relabelings.
        const scraped = monitor!.spec.podMetricsEndpoints
          .filter((e) => selected && e.port === port)
          .map((e) => relabel(target, e.relabelings.map(fromOperator))!);
        const want = expectedJob(w, port);
        expect(
          scraped.map((t) => t.job),
          `${w.metadata.name}:${port}`,
        ).toEqual(want ? [want] : []);
        for (const t of scraped)
          expect(t.instance, `${w.metadata.name}:${port}`).toBe(target.__meta_kubernetes_pod_name);
      }
    }
  });

  it('ships the alerts and the dashboard of deploy/ unchanged', () => {
    const rule = fleet.named<RenderedObject & { spec: { groups: unknown } }>('PrometheusRule', 'docfleet');
    const alerts = parse(readFileSync(path.join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8')) as { groups: unknown };
    expect(rule?.spec.groups).toEqual(alerts.groups);
    const dashboard = fleet.named<RenderedObject & { data: Record<string, string> }>(
      'ConfigMap',
      'docfleet-grafana-dashboard',
    );
    expect(dashboard?.metadata.labels?.grafana_dashboard).toBe('1');
    expect(dashboard?.data['docfleet.json']).toBe(
      readFileSync(path.join(ROOT, 'deploy/grafana/docfleet.json'), 'utf8'),
    );
  });

  it('authenticates every KEDA trigger to Prometheus through the TriggerAuthentication', () => {
    const auths = fleet.ofKind<RenderedObject & { spec: { secretTargetRef: { parameter: string }[] } }>(
      'TriggerAuthentication',
    );
    for (const so of fleet.ofKind<ScaledObject>('ScaledObject')) {
      for (const t of so.spec.triggers) {
        const auth = auths.find((a) => a.metadata.name === t.authenticationRef?.name);
        expect(auth, so.metadata.name).toBeDefined();
        expect(t.metadata.authModes, so.metadata.name).toBe('bearer');
        expect(
          auth?.spec.secretTargetRef.map((r) => r.parameter),
          so.metadata.name,
        ).toContain('bearerToken');
      }
    }
  });
});
