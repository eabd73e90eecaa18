import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
// Type-only imports inside: loads no native module; the setting tables import nothing but zod.
import { allQueueNames, queuesServedBy, type ModelRole, type WorkerTag } from '../../src/shared/queue-layout.js';
import { settingGroups } from '../../src/shared/settings/all-settings.js';
import { exporterSettings } from '../../src/shared/settings/producer-settings.js';
import { defaultText, type SettingTable } from '../../src/shared/settings/setting.js';
import { workerSettings } from '../../src/shared/settings/worker-settings.js';
import { ROOT } from '../helpers/paths.js';

/**
 * Static checks of k8s/: what `kubectl apply` would accept is not enough, the manifests must also agree with the
 * worker (its settings, ports, shutdown) and with each other (KEDA targets, volumes, Services). No cluster needed.
 */

const K8S = path.join(ROOT, 'k8s');

// ---------------------------------------------------------------------------------------------------------------
// The settings of src/shared/settings/, by environment variable.

interface SettingInfo {
  env: string;
  flag: string;
  /** The default as text, as it would be written in a manifest. */
  defaultValue?: string;
}

function byEnv(tables: SettingTable[]): Map<string, SettingInfo> {
  const out = new Map<string, SettingInfo>();
  for (const s of tables.flatMap((t) => Object.values(t))) {
    out.set(s.env, { env: s.env, flag: s.flag, defaultValue: defaultText(s) });
  }
  return out;
}

const SETTINGS = byEnv(settingGroups.map((g) => g.settings));
const flagsOf = (table: SettingTable) => new Set(Object.values(table).map((s) => s.flag));

// ---------------------------------------------------------------------------------------------------------------
// The manifests.

interface Meta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { configMapKeyRef?: { name: string; key: string }; secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: { readOnlyRootFilesystem?: boolean };
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  enableServiceLinks?: boolean;
  volumes?: { name: string; persistentVolumeClaim?: { claimName: string; readOnly?: boolean } }[];
}
interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
  data?: Record<string, string>;
  resources?: string[];
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    template?: { metadata?: Meta; spec: PodSpec };
    ports?: { port: number; targetPort?: number | string }[];
    scaleTargetRef?: { kind?: string; name: string };
    triggers?: { type: string; metadata: Record<string, string> }[];
  };
}
interface Located {
  file: string;
  obj: K8sObject;
}

const files = readdirSync(K8S)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const parsed = files.map((file) => ({ file, docs: parseAllDocuments(readFileSync(path.join(K8S, file), 'utf8')) }));
const all: Located[] = parsed.flatMap(({ file, docs }) =>
  docs.map((d) => ({ file, obj: d.toJS() as K8sObject | null })).filter((x): x is Located => x.obj !== null),
);
const objects = all.filter((o) => o.obj.kind !== 'Kustomization');
const ofKind = (kind: string) => objects.filter((o) => o.obj.kind === kind).map((o) => o.obj);
const workloads = objects.filter((o) => o.obj.kind === 'Deployment' || o.obj.kind === 'StatefulSet');
const configMaps = new Map(ofKind('ConfigMap').map((c) => [c.metadata?.name ?? '', c.data ?? {}]));

const isDocfleetImage = (image: string) => /(^|\/)docfleet(-cuda)?([:@]|$)/.test(image);
const docfleetContainers = workloads.flatMap(({ file, obj }) =>
  (obj.spec?.template?.spec.containers ?? []).filter((c) => isDocfleetImage(c.image)).map((c) => ({ file, obj, c })),
);
const workers = docfleetContainers.filter(({ c }) => c.args?.[0] === 'worker');
const exporters = docfleetContainers.filter(({ c }) => c.args?.[0] === 'exporter');

/** The environment a container starts with, as Kubernetes builds it: envFrom first, then env, which wins. */
function environment(c: Container): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  for (const from of c.envFrom ?? []) {
    if (from.configMapRef)
      for (const [k, v] of Object.entries(configMaps.get(from.configMapRef.name) ?? {})) env.set(k, v);
  }
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.configMapKeyRef;
    // A Secret's value is not in the repository: the variable is set, to something unknown.
    env.set(e.name, ref ? configMaps.get(ref.name)?.[ref.key] : e.value);
  }
  return env;
}

/** `--flag value` pairs of the args after the command name. */
function flags(c: Container): Map<string, string> {
  const out = new Map<string, string>();
  const args = c.args?.slice(1) ?? [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(0, eq), a.slice(eq + 1));
    else out.set(a, args[++i] ?? '');
  }
  return out;
}

/** What the worker will use for a setting: flag, else non-empty environment variable, else the default. */
function effective(c: Container, env: string): string | undefined {
  const s = SETTINGS.get(env);
  if (!s) throw new Error(`no setting reads ${env}`);
  const fromFlag = flags(c).get(s.flag);
  if (fromFlag !== undefined) return fromFlag;
  const fromEnv = environment(c).get(env);
  return fromEnv === undefined || fromEnv === '' ? s.defaultValue : fromEnv;
}

function portNumber(c: Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

function podLabels(obj: K8sObject): Record<string, string> {
  return obj.spec?.template?.metadata?.labels ?? {};
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

// ---------------------------------------------------------------------------------------------------------------

describe('k8s/ manifests', () => {
  it('reads the settings of src/shared/settings/', () => {
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

  it('has the manifests and they parse as YAML (every document)', () => {
    const expected = [
      'config',
      'exporter',
      'keda',
      'kustomization',
      'redis',
      'volumes',
      'worker-cpu',
      'worker-embed',
      'worker-gpu',
    ];
    expect(files).toEqual(expect.arrayContaining(expected.map((f) => `${f}.yaml`)));
    for (const { file, docs } of parsed) {
      for (const d of docs) expect([...d.errors, ...d.warnings].map(String), file).toEqual([]);
    }
    expect(workers.length).toBeGreaterThanOrEqual(3);
    expect(exporters).toHaveLength(1);
  });

  it('gives every object apiVersion, kind and metadata.name, in the docfleet namespace', () => {
    for (const { file, obj } of objects) {
      const what = `${file}: ${obj.kind}/${obj.metadata?.name}`;
      expect(obj.apiVersion, what).toMatch(/\S/);
      expect(obj.kind, what).toMatch(/\S/);
      expect(obj.metadata?.name, what).toMatch(/\S/);
      if (obj.metadata?.namespace !== undefined) expect(obj.metadata.namespace, what).toBe('docfleet');
    }
    const names = objects.map(({ obj }) => `${obj.kind}/${obj.metadata?.name}`);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it('lists every manifest, and nothing else, in kustomization.yaml', () => {
    const k = all.find((o) => o.obj.kind === 'Kustomization');
    expect(k?.file).toBe('kustomization.yaml');
    expect([...(k?.obj.resources ?? [])].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml'));
  });

  it('sets in docfleet containers only environment variables that a setting reads', () => {
    expect(docfleetContainers.length).toBeGreaterThan(0);
    for (const { file, c } of docfleetContainers) {
      for (const from of c.envFrom ?? []) {
        if (!from.configMapRef) continue;
        const data = configMaps.get(from.configMapRef.name);
        expect(data, `${file}: ConfigMap ${from.configMapRef.name}`).toBeDefined();
        for (const key of Object.keys(data ?? {}))
          expect(SETTINGS.has(key), `${file}: ${from.configMapRef.name}.${key}`).toBe(true);
      }
      for (const e of c.env ?? []) {
        expect(SETTINGS.has(e.name), `${file}: env ${e.name}`).toBe(true);
        const ref = e.valueFrom?.configMapKeyRef;
        if (ref) expect(configMaps.get(ref.name)?.[ref.key], `${file}: ${ref.name}.${ref.key}`).toBeDefined();
      }
      // Flags too: a misspelt one would stop the CLI, a flag of another command would be refused.
      const accepted = flagsOf(c.args?.[0] === 'exporter' ? exporterSettings : workerSettings);
      for (const flag of flags(c).keys()) expect(accepted.has(flag), `${file}: ${flag}`).toBe(true);
    }
  });

  it('keeps Service environment variables out of docfleet pods (a Service `docfleet-metrics` would set DOCFLEET_METRICS_PORT)', () => {
    for (const { file, obj } of docfleetContainers)
      expect(obj.spec?.template?.spec.enableServiceLinks, file).toBe(false);
  });

  it('gives every worker a model under /models and the documents at /data, both read-only', () => {
    for (const { file, obj, c } of workers) {
      expect(effective(c, 'MODEL_PATH'), file).toMatch(/^\/models\/.+\.gguf$/);
      const volumes = obj.spec?.template?.spec.volumes ?? [];
      for (const mountPath of ['/models', '/data']) {
        const mount = c.volumeMounts?.find((m) => m.mountPath === mountPath);
        expect(mount?.readOnly, `${file}: ${mountPath}`).toBe(true);
        const pvc = volumes.find((v) => v.name === mount?.name)?.persistentVolumeClaim;
        expect(pvc?.readOnly, `${file}: ${mountPath}`).toBe(true);
        expect(
          ofKind('PersistentVolumeClaim').map((p) => p.metadata?.name),
          `${file}: ${mountPath}`,
        ).toContain(pvc?.claimName);
      }
      // The worker writes its thread-count cache to ~/.cache/docfleet; on a read-only root it needs a volume there.
      if (c.securityContext?.readOnlyRootFilesystem) {
        expect(
          c.volumeMounts?.map((m) => m.mountPath),
          file,
        ).toContain('/home/docfleet/.cache');
      }
    }
    const documents = ofKind('PersistentVolumeClaim').find((p) => p.metadata?.name === 'docfleet-documents') as
      (K8sObject & { spec: { accessModes: string[] } }) | undefined;
    expect(documents?.spec.accessModes).toEqual(['ReadOnlyMany']);
  });

  it('points worker probes and scrape annotations at the metrics port', () => {
    for (const { file, obj, c } of workers) {
      const port = Number(effective(c, 'DOCFLEET_METRICS_PORT'));
      expect(port, file).toBeGreaterThan(0);
      expect(c.readinessProbe?.httpGet?.path, file).toBe('/readyz');
      expect(c.livenessProbe?.httpGet?.path, file).toBe('/healthz');
      expect(portNumber(c, c.readinessProbe?.httpGet?.port), `${file}: readinessProbe`).toBe(port);
      expect(portNumber(c, c.livenessProbe?.httpGet?.port), `${file}: livenessProbe`).toBe(port);
      expect(
        c.ports?.map((p) => p.containerPort),
        file,
      ).toContain(port);
      // What deploy/prometheus/prometheus.yml's `docfleet-worker` job keeps.
      const annotations = obj.spec?.template?.metadata?.annotations ?? {};
      expect(annotations['prometheus.io/scrape'], file).toBe('true');
      expect(annotations['prometheus.io/port'], file).toBe(String(port));
      expect(podLabels(obj), file).toMatchObject({
        'app.kubernetes.io/part-of': 'docfleet',
        'app.kubernetes.io/component': 'worker',
      });
    }
    for (const { file, c } of exporters) {
      const port = Number(effective(c, 'DOCFLEET_EXPORTER_PORT'));
      expect(portNumber(c, c.readinessProbe?.httpGet?.port), `${file}: readinessProbe`).toBe(port);
      expect(portNumber(c, c.livenessProbe?.httpGet?.port), `${file}: livenessProbe`).toBe(port);
    }
  });

  it('lets a worker finish its grace period before the kubelet kills it', () => {
    for (const { file, obj, c } of workers) {
      const graceMs = Number(effective(c, 'DOCFLEET_GRACE_MS'));
      const terminationMs = (obj.spec?.template?.spec.terminationGracePeriodSeconds ?? 30) * 1000;
      expect(Number.isFinite(graceMs), file).toBe(true);
      expect(terminationMs, file).toBeGreaterThan(graceMs);
      // After the grace period the worker still hands jobs back, closes its queues and frees the model.
      expect(terminationMs - graceMs, `${file}: margin after DOCFLEET_GRACE_MS`).toBeGreaterThanOrEqual(30_000);
    }
  });

  it('scales each worker Deployment with one ScaledObject on exactly the queues it consumes', () => {
    const scaled = ofKind('ScaledObject');
    const deployments = new Map(ofKind('Deployment').map((d) => [d.metadata?.name, d]));
    for (const so of scaled) expect(deployments.has(so.spec?.scaleTargetRef?.name), so.metadata?.name).toBe(true);

    for (const { file, obj, c } of workers) {
      const name = obj.metadata?.name;
      const mine = scaled.filter((so) => so.spec?.scaleTargetRef?.name === name);
      expect(mine, `${file}: ScaledObjects of ${name}`).toHaveLength(1);
      // KEDA's HPA owns the replica count; a value in the Deployment would reset it on every apply.
      expect(obj.spec?.replicas, file).toBeUndefined();

      const role = effective(c, 'DOCFLEET_ROLE') as ModelRole | 'auto';
      expect(role, `${file}: the role must be explicit for the queues to be known`).not.toBe('auto');
      const tag = (effective(c, 'DOCFLEET_TAG') ?? effective(c, 'DOCFLEET_DEVICE')) as WorkerTag;
      const served = queuesServedBy(role as ModelRole, tag).sort();

      for (const trigger of mine[0]!.spec?.triggers ?? []) {
        expect(trigger.type, file).toBe('prometheus');
        const query = trigger.metadata.query ?? '';
        expect(query, file).toMatch(/\bdocfleet_queue_jobs\{/);
        const re = /queue=~"([^"]+)"/.exec(query)?.[1];
        expect(re, `${file}: queue matcher`).toBeDefined();
        // PromQL regexes are anchored at both ends.
        const selected = allQueueNames()
          .filter((q) => new RegExp(`^(?:${re})$`).test(q))
          .sort();
        expect(selected, `${file}: queues of the KEDA query`).toEqual(served);
        expect(Number(trigger.metadata.threshold), file).toBeGreaterThan(0);
      }
    }
  });

  it('wires Deployment selectors and Services to pods and ports', () => {
    for (const { file, obj } of workloads) {
      expect(
        matches(obj.spec?.selector?.matchLabels ?? { none: 'x' }, podLabels(obj)),
        `${file}: ${obj.metadata?.name}`,
      ).toBe(true);
    }
    for (const svc of ofKind('Service')) {
      const selector = (svc.spec?.selector ?? {}) as Record<string, string>;
      const backends = workloads.filter(({ obj }) => matches(selector, podLabels(obj)));
      expect(backends.length, `Service ${svc.metadata?.name}`).toBeGreaterThan(0);
      for (const p of svc.spec?.ports ?? []) {
        const target = p.targetPort ?? p.port;
        const found = backends.some(({ obj }) =>
          obj.spec?.template?.spec.containers.some((c) =>
            c.ports?.some((cp) => cp.containerPort === portNumber(c, target)),
          ),
        );
        expect(found, `Service ${svc.metadata?.name} port ${target}`).toBe(true);
      }
    }
  });

  it('runs Redis with persistence and without eviction (results live there)', () => {
    const redis = workloads.find(({ obj }) => obj.kind === 'StatefulSet' && obj.metadata?.name === 'redis')?.obj;
    const args = (redis?.spec?.template?.spec.containers[0]?.args ?? []).join(' ');
    expect(args).toMatch(/--appendonly yes\b/);
    expect(args).toMatch(/--maxmemory-policy noeviction\b/);
    expect(configMaps.get('docfleet-config')?.REDIS_URL).toBe('redis://redis:6379');
  });
});
