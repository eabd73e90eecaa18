/**
 * `npm run eval`: runs extract in this process (no Redis, no queue) over the labelled PDFs of a directory and
 * scores the output with score.ts. In-process on purpose: the harness measures the model and the task, and a
 * fleet would add queueing time and failure modes that are not what is being evaluated.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { MiB, type WorkerConfig } from '../shared/config.js';
import type { ExtractOutput } from '../shared/job-types.js';
import { loadDocument } from '../worker/text/document-loader.js';
import { ModelHost } from '../worker/model/model-host.js';
import { PdfTextExtractor } from '../worker/text/pdf-text.js';
import { TaskRunner } from '../worker/tasks/task-runner.js';
import {
  FIELDS,
  parseLabels,
  score,
  type EvalScore,
  type FieldName,
  type Prediction,
  type PredictedValue,
  type Scores,
} from './score.js';

export interface EvalOptions {
  dir: string;
  labelsFile: string;
  jsonOut?: string;
  /** The worker's settings (model, device, threads, limits); its Redis and queue settings are not used. */
  config: WorkerConfig;
  /** Whether a context size was asked for (flag or environment); if not, a moderate one is used. */
  contextSizeGiven: boolean;
}

export interface DocumentRun {
  file: string;
  fields: Prediction['fields'];
  /** Wall time for this document: reading, text extraction and inference. */
  seconds: number;
  truncated?: boolean;
  /** Per field, the values the worker cited and those whose quote it found in the document. */
  quotes?: Partial<Record<FieldName, QuoteCount>>;
  /** Passages the model read, when the document did not fit its context. */
  passages?: number;
  error?: string;
}

export interface QuoteCount {
  values: number;
  found: number;
}

export interface QuoteShare extends QuoteCount {
  /** found / values; null when no value was extracted. */
  share: number | null;
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
  /**
   * The worker's own grounding: the share of extracted values whose supporting quote it found in the document
   * (ExtractOutput.ungrounded), next to the score's grounded share, which looks for the value itself.
   */
  quotes: { fields: Record<FieldName, QuoteShare>; overall: QuoteShare };
}

/** Enough for a few pages of a contract and the JSON answer, without the memory and time of the longest contexts. */
const MODERATE_CONTEXT = 4096;

export async function runEval(opts: EvalOptions, out: (line: string) => void = console.log): Promise<EvalReport> {
  const allLabels = parseLabels(JSON.parse(await readFile(opts.labelsFile, 'utf8')));
  const present = new Set(await readdir(opts.dir));
  const labels = allLabels.filter((l) => present.has(l.file));
  const missing = allLabels.filter((l) => !present.has(l.file)).map((l) => l.file);
  if (labels.length === 0) throw new Error(`none of the ${allLabels.length} labelled files is in ${opts.dir}`);

  const config = opts.config;
  // Unless asked for a size (or 'auto'), a moderate one: see MODERATE_CONTEXT.
  const contextSize = opts.contextSizeGiven ? config.contextSize : await moderateContext(config.modelPath);
  const host = await ModelHost.load({
    modelPath: config.modelPath,
    device: config.device,
    role: 'generate',
    sequences: 1,
    threads: config.threads,
    contextSize,
    gpuLayers: config.gpuLayers,
  });
  const runner = new TaskRunner(host);
  const extractor = new PdfTextExtractor();
  const limits = {
    maxBytes: config.maxDocumentMb * MiB,
    maxPages: config.maxPages,
    parseTimeoutMs: config.parseTimeoutMs,
    parseMemoryMb: config.parseMemoryMb,
  };
  out(
    `model ${host.modelName}: context ${host.contextSize}, ${host.threads} thread(s), loaded in ${(host.loadMs / 1000).toFixed(1)} s`,
  );

  const runs: DocumentRun[] = [];
  const texts = new Map<string, string>();
  try {
    for (const [i, { file }] of labels.entries()) {
      const started = performance.now();
      const uri = path.resolve(opts.dir, file);
      const run: DocumentRun = { file, fields: {}, seconds: 0 };
      try {
        const bytes = await readFile(uri);
        const ref = {
          uri,
          name: file,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          bytes: bytes.byteLength,
        };
        const { doc } = await loadDocument(ref, limits, { extractor });
        texts.set(file, doc.text);
        const { output } = await runner.run({ batchId: 'eval', doc: ref, task: 'extract', params: {} }, doc);
        run.fields = predictedFields(output.fields);
        run.truncated = output.truncated;
        run.quotes = quoteCounts(output);
        if (output.passages) run.passages = output.passages.length;
      } catch (err) {
        // A failed document still counts: its labelled spans become false negatives.
        run.error = (err as Error).message;
      }
      run.seconds = (performance.now() - started) / 1000;
      runs.push(run);
      out(
        `[${i + 1}/${labels.length}] ${file}: ${run.seconds.toFixed(1)} s${run.error ? ` — failed: ${run.error}` : ''}`,
      );
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
    score: score(
      labels,
      runs.map((r) => ({ file: r.file, fields: r.fields })),
      texts,
    ),
    quotes: quoteShares(runs),
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

function quoteCounts(output: ExtractOutput): Partial<Record<FieldName, QuoteCount>> {
  const out: Partial<Record<FieldName, QuoteCount>> = {};
  for (const f of FIELDS) {
    const entries = output.evidence[f] ?? [];
    out[f] = { values: entries.length, found: entries.filter((e) => e.grounded).length };
  }
  return out;
}

function quoteShares(runs: DocumentRun[]): EvalReport['quotes'] {
  const share = (c: QuoteCount): QuoteShare => ({ ...c, share: c.values > 0 ? c.found / c.values : null });
  const total: QuoteCount = { values: 0, found: 0 };
  const fields = Object.fromEntries(
    FIELDS.map((f) => {
      const c: QuoteCount = { values: 0, found: 0 };
      for (const r of runs) {
        c.values += r.quotes?.[f]?.values ?? 0;
        c.found += r.quotes?.[f]?.found ?? 0;
      }
      total.values += c.values;
      total.found += c.found;
      return [f, share(c)];
    }),
  ) as Record<FieldName, QuoteShare>;
  return { fields, overall: share(total) };
}

export function formatReport(r: EvalReport): string {
  const pct = (x: number | null) => (x === null ? '—' : `${(100 * x).toFixed(1)}%`);
  const header = ['field', 'precision', 'recall', 'F1', 'support', 'predicted', 'grounded', 'quote found'];
  const row = (name: string, s: Scores, q: QuoteShare) => [
    name,
    pct(s.precision),
    pct(s.recall),
    pct(s.f1),
    String(s.support),
    String(s.predicted),
    pct(s.groundedShare),
    pct(q.share),
  ];
  const rows = [
    header,
    ...FIELDS.map((f) => row(f, r.score.fields[f], r.quotes.fields[f])),
    row('overall (micro)', r.score.overall, r.quotes.overall),
  ];
  const widths = header.map((_, c) => Math.max(...rows.map((cells) => cells[c]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const failed = r.documents.filter((d) => d.error).length;
  return [
    line(rows[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1, -1).map(line),
    widths.map((w) => '-'.repeat(w)).join('  '),
    line(rows.at(-1)!),
    '',
    `documents: ${r.documents.length} (${failed} failed)${r.missing.length ? `; labelled but not in the directory: ${r.missing.join(', ')}` : ''}`,
    `grounded values (the value itself found verbatim, normalised, in the document text): ${pct(r.score.overall.groundedShare)} of ${r.score.overall.checked}`,
    `values whose quote the worker found in the document (the rest it flagged ungrounded): ${pct(r.quotes.overall.share)} of ${r.quotes.overall.values}`,
    `documents read through candidate passages (too long for the context): ${r.documents.filter((d) => d.passages !== undefined).length}`,
    `time per document: ${r.secondsPerDocument.toFixed(1)} s (model load ${r.modelLoadSeconds.toFixed(1)} s, not included)`,
  ].join('\n');
}
