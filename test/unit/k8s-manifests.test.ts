import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
// Type-only imports inside: loads no native module.
import { allQueueNames, queuesServedBy, type ModelRole, type WorkerTag } from '../../src/shared/queue-layout.js';
import {
  Fleet,
  SETTINGS,
  flags,
  isSetting,
  isSettingFlag,
  portNumber,
  type ScaledObject,
  type ServiceObject,
} from '../helpers/k8s-fleet.js';
import { expectedJob, podTargets, relabel, type RelabelRule } from '../helpers/scrape-targets.js';
import { OVERLAYS, renderOverlay } from '../helpers/kustomize.js';
import { ROOT } from '../helpers/paths.js';

/**
 * Static checks of k8s/, on what each overlay renders: what `kubectl apply` would accept is not enough, the
 * manifests must also agree with the worker (its settings, ports, shutdown) and with each other (KEDA targets,
 * volumes, Services, the models Job). No cluster needed. k8s-schemas.test.ts checks the objects' schemas,
 * k8s-production.test.ts what the production overlay adds.
 */

describe('k8s/base', () => {
  it('lists every manifest of its folder, and nothing else, in kustomization.yaml', () => {
    const dir = path.join(ROOT, 'k8s/base');
    const files = readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
      .sort();
    const k = parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect([...k.resources].sort()).toEqual(files);
  });

  it('reads the settings of src/shared/config.ts', () => {
    for (const env of [
      'REDIS_URL',
      'MODEL_PATH',
      'DOCFLEET_DEVICE',
      'DOCFLEET_ROLE',
      'DOCFLEET_GRACE_MS',
      'DOCFLEET_METRICS_PORT',
    ]) {
      expect(SETTINGS.has(env), env).toBe(true);
    }
    expect(SETTINGS.get('DOCFLEET_GRACE_MS')?.defaultValue).toMatch(/^\d+$/);
    expect(SETTINGS.get('DOCFLEET_METRICS_PORT')?.defaultValue).toMatch(/^\d+$/);
    expect(SETTINGS.get('DOCFLEET_METRICS_PORT')?.flag).toBe('--metrics-port');
  });
});

describe.each(OVERLAYS)('k8s/overlays/%s', (overlay) => {
  const fleet = new Fleet(renderOverlay(overlay));
  const { workers, exporters } = fleet;

  it('has the fleet: workers of each role, one exporter, Redis', () => {
    expect(workers.length).toBeGreaterThanOrEqual(overlay === 'cpu' ? 2 : 3);
    expect(new Set(workers.map(({ c }) => fleet.effective(c, 'DOCFLEET_ROLE')))).toEqual(
      new Set(['generate', 'embed']),
    );
    expect(exporters).toHaveLength(1);
    expect(fleet.named('StatefulSet', 'redis')).toBeDefined();
  });

  it('puts every object in the docfleet namespace, once', () => {
    for (const o of fleet.objects) {
      if (o.kind !== 'Namespace') expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('docfleet');
    }
    const names = fleet.objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it('sets in docfleet containers only environment variables and flags that config.ts defines', () => {
    for (const { obj, c } of fleet.cli) {
      const where = `${obj.metadata.name}/${c.name}`;
      for (const from of c.envFrom ?? []) {
        if (!from.configMapRef) continue;
        const data = fleet.configMaps.get(from.configMapRef.name);
        expect(data, `${where}: ConfigMap ${from.configMapRef.name}`).toBeDefined();
        for (const key of Object.keys(data ?? {}))
          expect(isSetting(key), `${where}: ${from.configMapRef.name}.${key}`).toBe(true);
      }
      for (const e of c.env ?? []) {
        expect(isSetting(e.name), `${where}: env ${e.name}`).toBe(true);
        const ref = e.valueFrom?.configMapKeyRef;
        if (ref) expect(fleet.configMaps.get(ref.name)?.[ref.key], `${where}: ${ref.name}.${ref.key}`).toBeDefined();
      }
      // Flags too: a misspelt one would stop the CLI, a flag of another command would be refused.
      const allowed = c.args?.[0] === 'exporter' ? ['--port'] : [];
      for (const flag of flags(c).keys())
        expect(isSettingFlag(flag) || allowed.includes(flag), `${where}: ${flag}`).toBe(true);
      // A Service named e.g. `docfleet-metrics` would inject DOCFLEET_METRICS_PORT=tcp://… into the pod.
      expect(obj.spec.template.spec.enableServiceLinks, where).toBe(false);
    }
  });

  it('gives every worker a model under /models and the documents at /data, both read-only', () => {
    const claims = fleet.ofKind('PersistentVolumeClaim').map((p) => p.metadata.name);
    for (const { obj, c } of workers) {
      const name = obj.metadata.name;
      expect(fleet.effective(c, 'MODEL_PATH'), name).toMatch(/^\/models\/.+\.gguf$/);
      const volumes = obj.spec.template.spec.volumes ?? [];
      for (const mountPath of ['/models', '/data']) {
        const mount = c.volumeMounts?.find((m) => m.mountPath === mountPath);
        expect(mount?.readOnly, `${name}: ${mountPath}`).toBe(true);
        const pvc = volumes.find((v) => v.name === mount?.name)?.persistentVolumeClaim;
        expect(pvc?.readOnly, `${name}: ${mountPath}`).toBe(true);
        expect(claims, `${name}: ${mountPath}`).toContain(pvc?.claimName);
      }
      // The worker writes its thread-count cache to ~/.cache/docfleet; on a read-only root it needs a volume there.
      if (c.securityContext?.readOnlyRootFilesystem)
        expect(
          c.volumeMounts?.map((m) => m.mountPath),
          name,
        ).toContain('/home/docfleet/.cache');
    }
    const documents = fleet.named('PersistentVolumeClaim', 'docfleet-documents') as
      { spec: { accessModes: string[] } } | undefined;
    expect(documents?.spec.accessModes).toEqual(['ReadOnlyMany']);
  });

  it('pulls every model a worker loads with the models Job, and starts the worker once its file is there', () => {
    const job = fleet.workloads.find((w) => w.kind === 'Job' && w.metadata.name === 'docfleet-models');
    const pulled = (job?.spec.template.spec.containers ?? []).map((c) => {
      const args = c.args ?? [];
      expect(args[0], c.name).toBe('pull');
      expect(args[args.indexOf('--dir') + 1], c.name).toBe('/models');
      expect(args.at(-1), c.name).toMatch(/^hf:/);
      return `/models/${args[args.indexOf('--filename') + 1]}`;
    });
    for (const { obj, c } of workers) {
      const model = fleet.effective(c, 'MODEL_PATH');
      expect(pulled, obj.metadata.name).toContain(model);
      const wait = obj.spec.template.spec.initContainers?.find((i) => i.name === 'wait-for-model');
      expect(wait?.env?.find((e) => e.name === 'MODEL_PATH')?.value, obj.metadata.name).toBe(model);
      expect(wait?.image, obj.metadata.name).toBe(c.image);
    }
    // Nothing pulled that no pool loads.
    expect(pulled.sort()).toEqual([...new Set(workers.map(({ c }) => fleet.effective(c, 'MODEL_PATH')))].sort());
  });

  it('points probes at the metrics port, and leaves scraping to one mechanism (no scrape annotations)', () => {
    for (const { obj, c } of workers) {
      const name = obj.metadata.name;
      const port = Number(fleet.effective(c, 'DOCFLEET_METRICS_PORT'));
      expect(port, name).toBeGreaterThan(0);
      expect(c.readinessProbe?.httpGet?.path, name).toBe('/readyz');
      expect(c.livenessProbe?.httpGet?.path, name).toBe('/healthz');
      expect(portNumber(c, c.readinessProbe?.httpGet?.port), `${name}: readinessProbe`).toBe(port);
      expect(portNumber(c, c.livenessProbe?.httpGet?.port), `${name}: livenessProbe`).toBe(port);
      expect(c.ports?.find((p) => p.name === 'metrics')?.containerPort, name).toBe(port);
    }
    for (const { obj, c } of exporters) {
      const port = Number(flags(c).get('--port') ?? 9465);
      expect(c.ports?.find((p) => p.name === 'metrics')?.containerPort, obj.metadata.name).toBe(port);
      expect(portNumber(c, c.readinessProbe?.httpGet?.port), 'exporter readinessProbe').toBe(port);
      expect(portNumber(c, c.livenessProbe?.httpGet?.port), 'exporter livenessProbe').toBe(port);
    }
    // A Prometheus with the common annotation-based job would scrape these pods a second time.
    for (const w of fleet.workloads) {
      const annotations = Object.keys(w.spec.template.metadata.annotations ?? {});
      expect(
        annotations.filter((a) => a.startsWith('prometheus.io/')),
        w.metadata.name,
      ).toEqual([]);
    }
  });

  it('is scraped by deploy/prometheus/prometheus.yml: every metrics port once, as the job the alerts expect, named by pod', () => {
    const config = parse(readFileSync(path.join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: {
        job_name: string;
        kubernetes_sd_configs?: { role: string; namespaces: { names: string[] } }[];
        relabel_configs?: RelabelRule[];
      }[];
    };
    const jobs = config.scrape_configs.filter((j) => j.kubernetes_sd_configs);
    for (const job of jobs)
      expect(job.kubernetes_sd_configs, job.job_name).toEqual([{ role: 'pod', namespaces: { names: ['docfleet'] } }]);
    for (const w of fleet.workloads) {
      for (const target of podTargets(w)) {
        const scraped = jobs.flatMap((j) => {
          const t = relabel({ ...target, job: j.job_name }, j.relabel_configs ?? []);
          return t ? [t] : [];
        });
        const want = expectedJob(w, target.__meta_kubernetes_pod_container_port_name);
        const where = `${w.metadata.name}:${target.__meta_kubernetes_pod_container_port_name}`;
        expect(
          scraped.map((t) => t.job),
          where,
        ).toEqual(want ? [want] : []);
        for (const t of scraped) expect(t.instance, where).toBe(target.__meta_kubernetes_pod_name);
      }
    }
  });

  it('lets a worker finish its grace period before the kubelet kills it', () => {
    for (const { obj, c } of workers) {
      const graceMs = Number(fleet.effective(c, 'DOCFLEET_GRACE_MS'));
      const terminationMs = (obj.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000;
      expect(Number.isFinite(graceMs), obj.metadata.name).toBe(true);
      // After the grace period the worker still hands jobs back, closes its queues and frees the model.
      expect(terminationMs - graceMs, `${obj.metadata.name}: margin after DOCFLEET_GRACE_MS`).toBeGreaterThanOrEqual(
        30_000,
      );
    }
  });

  it('scales each worker Deployment with one ScaledObject on exactly the queues it consumes', () => {
    const scaled = fleet.ofKind<ScaledObject>('ScaledObject');
    const deployments = fleet.ofKind('Deployment').map((d) => d.metadata.name);
    for (const so of scaled) expect(deployments, so.metadata.name).toContain(so.spec.scaleTargetRef.name);
    // The Prometheus address, set once (base/keda.yaml's ConfigMap), reaches every trigger.
    const address = fleet.configMaps.get('docfleet-keda')?.prometheusAddress;
    expect(address).toMatch(/^https?:\/\//);

    for (const { obj, c } of workers) {
      const name = obj.metadata.name;
      const mine = scaled.filter((so) => so.spec.scaleTargetRef.name === name);
      expect(mine, `ScaledObjects of ${name}`).toHaveLength(1);
      // KEDA's HPA owns the replica count; a value in the Deployment would reset it on every apply.
      expect(obj.spec.replicas, name).toBeUndefined();

      const role = fleet.effective(c, 'DOCFLEET_ROLE') as ModelRole | 'auto';
      expect(role, `${name}: the role must be explicit for the queues to be known`).not.toBe('auto');
      const tag = (fleet.effective(c, 'DOCFLEET_TAG') ?? fleet.effective(c, 'DOCFLEET_DEVICE')) as WorkerTag;
      const served = queuesServedBy(role as ModelRole, tag).sort();

      for (const trigger of mine[0]!.spec.triggers) {
        expect(trigger.type, name).toBe('prometheus');
        expect(trigger.metadata.serverAddress, name).toBe(address);
        const query = trigger.metadata.query ?? '';
        // Every queue matcher of the query's docfleet_queue_jobs selectors; PromQL regexes are anchored.
        const matchers = [...query.matchAll(/docfleet_queue_jobs\{[^}]*?queue(=~?)"([^"]+)"/g)];
        expect(matchers.length, `${name}: queue matchers`).toBeGreaterThan(0);
        const selected = allQueueNames().filter((q) =>
          matchers.some(([, op, v]) => (op === '=' ? q === v : new RegExp(`^(?:${v})$`).test(q))),
        );
        expect(selected.sort(), `${name}: queues of the KEDA query`).toEqual(served);
        expect(Number(trigger.metadata.threshold), name).toBeGreaterThan(0);
      }
    }
  });

  it('mounts only volumes its pod declares', () => {
    for (const w of fleet.workloads) {
      const claims = (w.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? [];
      const volumes = [
        ...(w.spec.template.spec.volumes ?? []).map((v) => v.name),
        ...claims.map((t) => t.metadata.name),
      ];
      for (const c of [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers]) {
        for (const m of c.volumeMounts ?? [])
          expect(volumes, `${w.metadata.name}/${c.name}: ${m.mountPath}`).toContain(m.name);
      }
    }
  });

  it('wires selectors and Services to pods and ports', () => {
    for (const w of fleet.workloads) {
      if (w.kind === 'Job') continue;
      expect(fleet.selected(w.spec.selector.matchLabels), w.metadata.name).toContain(w);
    }
    for (const svc of fleet.ofKind<ServiceObject>('Service')) {
      const backends = fleet.selected(svc.spec.selector);
      expect(backends.length, `Service ${svc.metadata.name}`).toBeGreaterThan(0);
      for (const p of svc.spec.ports) {
        const target = p.targetPort ?? p.port;
        const found = backends.some((w) =>
          w.spec.template.spec.containers.some((c) =>
            c.ports?.some((cp) => cp.containerPort === portNumber(c, target)),
          ),
        );
        expect(found, `Service ${svc.metadata.name} port ${target}`).toBe(true);
      }
    }
  });

  it('runs Redis with persistence, without eviction, with its metrics sidecar', () => {
    const redis = fleet.named<(typeof fleet.workloads)[number]>('StatefulSet', 'redis');
    const [server, sidecar] = redis?.spec.template.spec.containers ?? [];
    const args = (server?.args ?? []).join(' ');
    expect(args).toMatch(/--appendonly yes\b/);
    expect(args).toMatch(/--maxmemory \S+/);
    expect(args).toMatch(/--maxmemory-policy noeviction\b/);
    expect(sidecar?.image).toMatch(/redis_exporter/);
    expect(sidecar?.ports?.find((p) => p.name === 'redis-metrics')?.containerPort).toBe(9121);
    expect(fleet.configMaps.get('docfleet-config')?.REDIS_URL).toBe(
      overlay === 'production' ? 'rediss://redis:6379' : 'redis://redis:6379',
    );
  });
});
