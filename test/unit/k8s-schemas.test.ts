import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { OVERLAYS, renderKustomization, type RenderedObject } from '../helpers/kustomize.js';
import { ROOT } from '../helpers/paths.js';

/**
 * Every object every overlay renders, checked against its API schema twice: by the `kubernetes-models` classes'
 * validators (required fields, types, enums, formats), and by TypeScript against the same packages' interfaces,
 * whose excess-property check rejects any field the API does not have (the validators let unknown fields
 * through, and the API server would drop them silently: a misspelt `readOnly` is a writable mount).
 */

/** The models package of each API group; core and built-in groups are in `kubernetes-models`. */
const CRD_PACKAGES: Record<string, string> = {
  'keda.sh': '@kubernetes-models/keda',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};

function modelModule(o: RenderedObject): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0]! : '';
  return `${CRD_PACKAGES[group] ?? 'kubernetes-models'}/${o.apiVersion}/${o.kind}`;
}

type Model = new (data: unknown) => { validate(): void };

async function validateWithModel(o: RenderedObject): Promise<string | undefined> {
  const mod = (await import(modelModule(o))) as Record<string, Model>;
  const Class = mod[o.kind];
  if (!Class) return `no model class ${o.kind} in ${modelModule(o)}`;
  try {
    new Class(o).validate();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Type errors of `const o: I<Kind> = <object>` for each object, compiled in memory. */
function typeErrors(objects: RenderedObject[]): string[] {
  const file = path.join(ROOT, 'test/unit/__rendered-manifests__.ts');
  const source = [
    ...objects.map((o, i) => `import type { I${o.kind} as T${i} } from '${modelModule(o)}';`),
    ...objects.map((o, i) => `export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`),
  ].join('\n');
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file && d.start !== undefined) {
      const { line } = d.file.getLineAndCharacterOfPosition(d.start);
      const declaration = /^export const o(\d+)/;
      // Name the object the error is in: the nearest `export const oN` above the error's line.
      const lines = source
        .split('\n')
        .slice(0, line + 1)
        .reverse();
      const index = lines.map((l) => declaration.exec(l)?.[1]).find((n) => n !== undefined);
      const o = index === undefined ? undefined : objects[Number(index)];
      return `${o ? `${o.kind}/${o.metadata.name}: ` : ''}${text}`;
    }
    return text;
  });
}

describe.each([...OVERLAYS.map((o) => `overlays/${o}`), 'examples/producer'])('k8s/%s', (dir) => {
  const objects = renderKustomization(dir);

  it('renders with kustomize', () => {
    expect(objects.length).toBeGreaterThan(0);
  });

  it('validates every object with its kubernetes-models class', async () => {
    const errors: string[] = [];
    for (const o of objects) {
      const error = await validateWithModel(o);
      if (error) errors.push(`${o.kind}/${o.metadata.name}: ${error}`);
    }
    expect(errors).toEqual([]);
  });

  it('has no field the API does not know (TypeScript excess-property check against the models)', () => {
    expect(typeErrors(objects)).toEqual([]);
  });
});

describe('the schema check itself', () => {
  const objects = renderKustomization('overlays/cpu');
  const deployment = objects.find((o) => o.kind === 'Deployment')!;

  it('rejects a misspelt field deep in a pod spec', () => {
    const broken = structuredClone(deployment);
    (
      broken.spec as { template: { spec: { containers: Record<string, unknown>[] } } }
    ).template.spec.containers[0]!.readOnlyRootFileSystem = true;
    expect(typeErrors([broken]).join('\n')).toMatch(/readOnlyRootFileSystem/);
  });

  it('rejects a wrong type', async () => {
    const broken = structuredClone(deployment);
    (broken.spec as { revisionHistoryLimit: unknown }).revisionHistoryLimit = 'five';
    expect(await validateWithModel(broken)).toMatch(/revisionHistoryLimit/);
  });
});
