import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { modelCacheDir, REAL_MODELS } from '../../dist/shared/model-cache.js';
import { exitOnStop, killOnExit, log, RESULTS_DIR } from './common.js';

/**
 * The quality run with one process per cached model, each pinned to a core of its own (`taskset`), where the
 * machine has a core per model: the run then takes as long as the slower model instead of the sum of both.
 * Each child is `bench quality --model <name>` with the same arguments and writes `quality-<name>.json` after
 * each contract; the parent joins them into one file. Returns undefined where side by side is not possible
 * (one model cached, fewer cores than models, no taskset), so the caller runs the models in turns.
 */
export async function qualitySideBySide(args: readonly string[]): Promise<Record<string, unknown> | undefined> {
  const names = REAL_MODELS.map((m) => m.replace(/\.gguf$/, '')).filter((m) =>
    existsSync(path.join(modelCacheDir(), `${m}.gguf`)),
  );
  const cores = os.availableParallelism();
  if (names.length < 2 || cores < names.length || !existsSync('/usr/bin/taskset')) return undefined;
  log(`quality: ${names.length} models side by side, one core each (${names.join(', ')})`);
  const script = process.argv[1]!;
  const children = names.map((name, i) => {
    const child = spawn(
      'taskset',
      ['-c', String(i), process.execPath, ...process.execArgv, script, 'quality', ...args, '--model', name],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    killOnExit(child);
    return new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`quality --model ${name}: exit ${code}`)),
      );
    });
  });
  const removeStop = exitOnStop();
  await Promise.all(children);
  removeStop();
  return joinRuns(names.map((name) => path.join(RESULTS_DIR, `quality-${name}.json`)));
}

interface SavedRun {
  meta: Record<string, unknown>;
  corpus: string;
  methods: string[];
  documents: string;
  complete: boolean;
  files: string[];
  models: Record<string, unknown>;
}

/** One quality.json from the runs of single models: the contracts all of them finished, every model's figures. */
async function joinRuns(files: readonly string[]): Promise<Record<string, unknown>> {
  const runs = await Promise.all(files.map(async (f) => JSON.parse(await readFile(f, 'utf8')) as SavedRun));
  const first = runs[0]!;
  const done = Math.min(...runs.map((r) => r.files.length));
  const total = first.documents.split(' of ')[1];
  return {
    meta: { ...first.meta, sideBySide: 'one process per model, each pinned to its own core' },
    corpus: first.corpus,
    documents: `${done} of ${total}`,
    complete: runs.every((r) => r.complete),
    files: first.files.slice(0, done),
    methods: first.methods,
    models: Object.assign({}, ...runs.map((r) => r.models)) as Record<string, unknown>,
  };
}
