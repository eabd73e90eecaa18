import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './paths.js';

/** The overlays under k8s/overlays/, each a complete fleet a platform team applies as it is. */
export const OVERLAYS = ['cpu', 'gpu', 'production'] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** A rendered Kubernetes object, loosely typed: the tests that read it say what they expect. */
export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** What `kubectl kustomize k8s/overlays/<overlay>` prints, as objects (kubectl: scripts/test-deps.sh installs it). */
export function renderOverlay(overlay: Overlay): RenderedObject[] {
  return renderKustomization(`overlays/${overlay}`);
}

/** What `kubectl kustomize k8s/<dir>` prints, as objects. */
export function renderKustomization(dir: string): RenderedObject[] {
  const run = spawnSync('kubectl', ['kustomize', path.join(ROOT, 'k8s', dir)], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (run.error) throw new Error(`cannot run kubectl (scripts/test-deps.sh installs it): ${run.error.message}`);
  if (run.status !== 0) throw new Error(`kubectl kustomize k8s/${dir} failed:\n${run.stderr}`);
  const docs = parseAllDocuments(run.stdout);
  for (const d of docs) if (d.errors.length) throw new Error(`${dir}: ${d.errors.join('\n')}`);
  // An empty document (a stray `---`) reads as null.
  return docs.map((d) => d.toJS() as RenderedObject | null).filter((o) => o !== null);
}
