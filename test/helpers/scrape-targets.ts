import type { Workload } from './k8s-fleet.js';

/**
 * What Prometheus's Kubernetes pod discovery and relabelling make of a fleet's pods: enough of both to check that
 * a scrape configuration (deploy/prometheus/prometheus.yml, the production overlay's PodMonitor) finds every metrics
 * port once, under the job the alerts expect, with the pod name as `instance`. Only the `replace` and `keep`
 * actions, which those configurations use.
 */

export interface RelabelRule {
  source_labels?: string[];
  separator?: string;
  regex?: string;
  target_label?: string;
  replacement?: string;
  action?: 'replace' | 'keep';
}

/** A target after relabelling, or undefined when a `keep` dropped it. */
export function relabel(labels: Record<string, string>, rules: RelabelRule[]): Record<string, string> | undefined {
  const out = { ...labels };
  for (const rule of rules) {
    const value = (rule.source_labels ?? []).map((l) => out[l] ?? '').join(rule.separator ?? ';');
    const match = new RegExp(`^(?:${rule.regex ?? '(.*)'})$`).exec(value);
    if ((rule.action ?? 'replace') === 'keep') {
      if (!match) return undefined;
    } else if (match && rule.target_label) {
      out[rule.target_label] = (rule.replacement ?? '$1').replace(/\$(\d+)/g, (_, n: string) => match[Number(n)] ?? '');
    }
  }
  return out;
}

/** A PodMonitor endpoint's camelCase relabelings in Prometheus's own spelling. */
export function fromOperator(r: {
  sourceLabels?: string[];
  targetLabel?: string;
  replacement?: string;
  regex?: string;
  action?: string;
}): RelabelRule {
  return {
    source_labels: r.sourceLabels,
    target_label: r.targetLabel,
    replacement: r.replacement,
    regex: r.regex,
    action: r.action as RelabelRule['action'],
  };
}

/** A target as pod discovery labels it, before relabelling. */
export type DiscoveredTarget = Record<string, string> & {
  __meta_kubernetes_pod_name: string;
  __meta_kubernetes_pod_container_port_name: string;
};

/** One discovered target per declared container port of a workload's (first) pod, as `role: pod` labels it. */
export function podTargets(w: Workload): DiscoveredTarget[] {
  const pod = `${w.metadata.name}-7d9f6-x2kqp`;
  const podLabels = Object.fromEntries(
    Object.entries(w.spec.template.metadata.labels).map(([k, v]) => [
      `__meta_kubernetes_pod_label_${k.replace(/\W/g, '_')}`,
      v,
    ]),
  );
  return w.spec.template.spec.containers.flatMap((c) =>
    (c.ports ?? []).map((p) => ({
      __address__: `10.0.0.7:${p.containerPort}`,
      __meta_kubernetes_namespace: w.metadata.namespace ?? '',
      __meta_kubernetes_pod_name: pod,
      __meta_kubernetes_pod_container_name: c.name,
      __meta_kubernetes_pod_container_port_name: p.name ?? '',
      __meta_kubernetes_pod_container_port_number: String(p.containerPort),
      ...podLabels,
    })),
  );
}

/** The job each metrics port must be scraped as: what deploy/prometheus/alerts.yml selects on. */
export function expectedJob(w: Workload, portName: string): string | undefined {
  if (portName === 'redis-metrics') return 'docfleet-redis';
  if (portName !== 'metrics') return undefined;
  return `docfleet-${w.spec.template.metadata.labels['app.kubernetes.io/component']}`;
}
