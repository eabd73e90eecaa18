/**
 * `npm run eval`: runs extract in this process (no Redis, no queue) over the labelled PDFs of a directory and
 * scores the output with score.ts. In-process on purpose: the harness measures the model and the task, and a
 * fleet would add queueing time and failure modes that are not what is being evaluated.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { loadWorkerConfig, MiB, type Flags } from '../../shared/config.js';
import type { ExtractOutput } from '../../shared/job-types.js';
import { loadDocument } from '../../worker/document-loader.js';
import { ModelHost } from '../../worker/model-host.js';
import { PdfTextExtractor } from '../../worker/pdf-text.js';
import { FIELDS, parseLabels, score, type EvalScore, type FieldName, type Prediction, type PredictedValue, type Scores } from './score.js';

export interface EvalOptions {
  dir: string;
  labelsFile: string;
  jsonOut?: string;
  /** Worker flags as commander hands them over (model, threads, contextSize, device, …); env fills the rest. */
  flags: Flags;
}

export interface DocumentRun {
  file: string;
  fields: Prediction['fields'];
  /** Wall time for this document: reading, text extraction and inference. */
  seconds: number;
  truncated?: boolean;
  error?: string;
}

export interface EvalReport {
  model: string;
  contextSize: number;
  threads: number;
  modelLoadSeconds: number;
  documents: DocumentRun[];
  /** Labelled files that are not in the directory, so not evaluated. */
  missing: string[];
  secondsPerDocument: number;
  score: EvalScore;
}

/** Enough for a few pages of a contract and the JSON answer, without the memory and time of the longest contexts. */
const MODERATE_CONTEXT = 4096;

export async function runEval(opts: EvalOptions, out: (line: string) => void = console.log): Promise<EvalReport> {
  const allLabels = parseLabels(JSON.parse(await readFile(opts.labelsFile, 'utf8')));
  const present = new Set(await readdir(opts.dir));
  const labels = allLabels.filter((l) => present.has(l.file));
  const missing = allLabels.filter((l) => !present.has(l.file)).map((l) => l.file);
  if (labels.length === 0) throw new Error(`none of the ${allLabels.length} labelled files is in ${opts.dir}`);

  const config = loadWorkerConfig(opts.flags);
  // Unless asked for a size (or 'auto'), a moderate one: see MODERATE_CONTEXT.
  const unset = opts.flags.contextSize === undefined && !process.env.DOCFLEET_CONTEXT_SIZE;
  const contextSize = unset ? await moderateContext(config.modelPath) : config.contextSize;
  const host = await ModelHost.load({
    modelPath: config.modelPath,
    device: config.device,
    role: 'generate',
    sequences: 1,
    threads: config.threads,
    contextSize,
    gpuLayers: config.gpuLayers,
  });
  const extractor = new PdfTextExtractor();
  const limits = {
    maxBytes: config.maxDocumentMb * MiB,
    maxPages: config.maxPages,
    parseTimeoutMs: config.parseTimeoutMs,
    parseMemoryMb: config.parseMemoryMb,
  };
  out(`model ${host.modelName}: context ${host.contextSize}, ${host.threads} thread(s), loaded in ${(host.loadMs / 1000).toFixed(1)} s`);

  const runs: DocumentRun[] = [];
  const texts = new Map<string, string>();
  try {
    for (const [i, { file }] of labels.entries()) {
      const started = performance.now();
      const uri = path.resolve(opts.dir, file);
      const run: DocumentRun = { file, fields: {}, seconds: 0 };
      try {
        const bytes = await readFile(uri);
        const ref = { uri, name: file, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.byteLength };
        const { doc } = await loadDocument(ref, limits, undefined, extractor);
        texts.set(file, doc.text);
        const result = await host.runTask({ batchId: 'eval', doc: ref, task: 'extract', params: {} }, doc);
        const output = result.output as ExtractOutput;
        run.fields = predictedFields(output.fields);
        run.truncated = output.truncated;
      } catch (err) {
        // A failed document still counts: its labelled spans become false negatives.
        run.error = (err as Error).message;
      }
      run.seconds = (performance.now() - started) / 1000;
      runs.push(run);
      out(`[${i + 1}/${labels.length}] ${file}: ${run.seconds.toFixed(1)} s${run.error ? ` — failed: ${run.error}` : ''}`);
    }
  } finally {
    await extractor.close();
    await host.dispose();
  }

  const report: EvalReport = {
    model: host.modelName,
    contextSize: host.contextSize,
    threads: host.threads,
    modelLoadSeconds: host.loadMs / 1000,
    documents: runs,
    missing,
    secondsPerDocument: runs.reduce((s, r) => s + r.seconds, 0) / runs.length,
    score: score(labels, runs.map((r) => ({ file: r.file, fields: r.fields })), texts),
  };
  out('');
  out(formatReport(report));
  if (opts.jsonOut) await writeFile(opts.jsonOut, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

/** The model's trained context, at most MODERATE_CONTEXT: beyond its trained length a model degrades. */
async function moderateContext(modelPath: string): Promise<number> {
  const info = await readGgufFileInfo(modelPath, { readTensorInfo: false }).catch(() => undefined);
  const trained = info?.architectureMetadata.context_length;
  return typeof trained === 'number' && trained > 0 ? Math.min(trained, MODERATE_CONTEXT) : MODERATE_CONTEXT;
}

/** extract's JSON → the values the scorer reads; anything not a string or list of strings is no value. */
function predictedFields(fields: Record<string, unknown>): Prediction['fields'] {
  const out: Partial<Record<FieldName, PredictedValue>> = {};
  for (const f of FIELDS) {
    const v = fields[f];
    out[f] = typeof v === 'string' ? v : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null;
  }
  return out;
}

export function formatReport(r: EvalReport): string {
  const pct = (x: number | null) => (x === null ? '—' : `${(100 * x).toFixed(1)}%`);
  const header = ['field', 'precision', 'recall', 'F1', 'support', 'predicted', 'grounded'];
  const row = (name: string, s: Scores) => [name, pct(s.precision), pct(s.recall), pct(s.f1), String(s.support), String(s.predicted), pct(s.groundedShare)];
  const rows = [header, ...FIELDS.map((f) => row(f, r.score.fields[f])), row('overall (micro)', r.score.overall)];
  const widths = header.map((_, c) => Math.max(...rows.map((cells) => cells[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const failed = r.documents.filter((d) => d.error).length;
  return [
    line(rows[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1, -1).map(line),
    widths.map((w) => '-'.repeat(w)).join('  '),
    line(rows.at(-1)!),
    '',
    `documents: ${r.documents.length} (${failed} failed)${r.missing.length ? `; labelled but not in the directory: ${r.missing.join(', ')}` : ''}`,
    `grounded values (found verbatim, normalised, in the document text): ${pct(r.score.overall.groundedShare)} of ${r.score.overall.checked}`,
    `time per document: ${r.secondsPerDocument.toFixed(1)} s (model load ${r.modelLoadSeconds.toFixed(1)} s, not included)`,
  ].join('\n');
}
