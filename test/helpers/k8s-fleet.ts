import { settingGroups } from '../../src/shared/settings/all-settings.js';
import { defaultText } from '../../src/shared/settings/setting.js';
import type { RenderedObject } from './kustomize.js';

/**
 * The docfleet side of rendered k8s manifests: which containers are workers and exporters, the environment and
 * flags they start with, and the settings those must name. Used by the k8s tests.
 */

// ---------------------------------------------------------------------------------------------------------------
// The settings of src/shared/settings/ (tables that import nothing but zod), by environment variable.

export interface SettingInfo {
  env: string;
  flag: string;
  /** The default as text, as it would be written in a manifest. */
  defaultValue?: string;
}

export const SETTINGS = new Map<string, SettingInfo>(
  settingGroups
    .flatMap((g) => Object.values(g.settings))
    .map((s) => [s.env, { env: s.env, flag: s.flag, defaultValue: defaultText(s) }]),
);
export const isSetting = (env: string) => SETTINGS.has(env);

const byFlag = new Map([...SETTINGS.values()].map((s) => [s.flag, s]));
export const isSettingFlag = (flag: string) => byFlag.has(flag);

// ---------------------------------------------------------------------------------------------------------------
// The shapes of the rendered objects these tests read.

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { configMapKeyRef?: { name: string; key: string }; secretKeyRef?: { name: string; key: string } };
}
export interface Probe {
  httpGet?: { path: string; port: number | string };
  exec?: { command: string[] };
}
export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: { readOnlyRootFilesystem?: boolean };
}
export interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  projected?: { sources: { secret?: { name: string; items?: { key: string; path: string }[] } }[] };
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  terminationGracePeriodSeconds?: number;
  enableServiceLinks?: boolean;
  volumes?: Volume[];
}
export interface Workload extends RenderedObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
}
export interface ServiceObject extends RenderedObject {
  spec: {
    clusterIP?: string;
    selector: Record<string, string>;
    ports: { name?: string; port: number; targetPort?: number | string }[];
  };
}
export interface ScaledObject extends RenderedObject {
  spec: {
    scaleTargetRef: { name: string };
    minReplicaCount?: number;
    triggers: { type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }[];
  };
}

export const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

export function portNumber(c: Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

/** `--flag value` pairs of the args after the command name. */
export function flags(c: Container): Map<string, string> {
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

const isDocfleetImage = (image: string) => /(^|\/)docfleet(-cuda)?([:@]|$)/.test(image);

/** One overlay's objects, seen from docfleet: its workloads, and the worker and exporter containers in them. */
export class Fleet {
  readonly configMaps: Map<string, Record<string, string>>;
  readonly workloads: Workload[];
  /** Containers running the docfleet CLI (`worker`, `exporter`) with the workload that runs them. */
  readonly cli: { obj: Workload; c: Container }[];
  readonly workers: { obj: Workload; c: Container }[];
  readonly exporters: { obj: Workload; c: Container }[];

  constructor(readonly objects: RenderedObject[]) {
    this.configMaps = new Map(
      this.ofKind('ConfigMap').map((c) => [c.metadata.name, (c.data ?? {}) as Record<string, string>]),
    );
    this.workloads = objects.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind)) as Workload[];
    this.cli = this.workloads.flatMap((obj) =>
      obj.spec.template.spec.containers
        .filter((c) => isDocfleetImage(c.image) && ['worker', 'exporter'].includes(c.args?.[0] ?? ''))
        .map((c) => ({ obj, c })),
    );
    this.workers = this.cli.filter(({ c }) => c.args?.[0] === 'worker');
    this.exporters = this.cli.filter(({ c }) => c.args?.[0] === 'exporter');
  }

  ofKind<T extends RenderedObject = RenderedObject>(kind: string): T[] {
    return this.objects.filter((o) => o.kind === kind) as T[];
  }

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- callers name the kind's shape, as with ofKind
  named<T extends RenderedObject = RenderedObject>(kind: string, name: string): T | undefined {
    return this.ofKind<T>(kind).find((o) => o.metadata.name === name);
  }

  /** The environment a container starts with, as Kubernetes builds it: envFrom first, then env, which wins. */
  environment(c: Container): Map<string, string | undefined> {
    const env = new Map<string, string | undefined>();
    for (const from of c.envFrom ?? []) {
      if (from.configMapRef)
        for (const [k, v] of Object.entries(this.configMaps.get(from.configMapRef.name) ?? {})) env.set(k, v);
    }
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.configMapKeyRef;
      // A Secret's value is not in the repository: the variable is set, to something unknown.
      env.set(e.name, ref ? this.configMaps.get(ref.name)?.[ref.key] : e.value);
    }
    return env;
  }

  /** What the CLI will use for a setting: flag, else non-empty environment variable, else the default. */
  effective(c: Container, env: string): string | undefined {
    const s = SETTINGS.get(env);
    if (!s) throw new Error(`config.ts defines no ${env}`);
    const fromFlag = flags(c).get(s.flag);
    if (fromFlag !== undefined) return fromFlag;
    const fromEnv = this.environment(c).get(env);
    return fromEnv === undefined || fromEnv === '' ? s.defaultValue : fromEnv;
  }

  /** Workloads whose pods a label selector selects. */
  selected(selector: Record<string, string>): Workload[] {
    return this.workloads.filter((w) => matches(selector, w.spec.template.metadata.labels));
  }
}
