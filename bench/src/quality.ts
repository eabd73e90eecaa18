import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseLabels, type LabelledDoc } from '../../dist/eval/score.js';
import { MiB, loadWorkerConfig } from '../../dist/shared/config.js';
import { modelCacheDir, REAL_MODELS } from '../../dist/shared/model-cache.js';
import type { ExtractOutput } from '../../dist/shared/tasks/extract.js';
import { generate, type GenerationEnv } from '../../dist/worker/model/generation.js';
import { ModelHost } from '../../dist/worker/model/model-host.js';
import { CONTRACT_SCHEMA } from '../../dist/worker/tasks/extract/contract-schema.js';
import { extract } from '../../dist/worker/tasks/extract/extract.js';
import { boundedForGrammar } from '../../dist/worker/tasks/extract/schema-grammar.js';
import { loadDocument } from '../../dist/worker/text/document-loader.js';
import type { DocumentText } from '../../dist/worker/text/document-text.js';
import { PdfTextExtractor } from '../../dist/worker/text/pdf-text.js';
import { log, ROOT, round } from './common.js';
import { checkGrounding, type GroundingCheck } from './quality-measures.js';
import { timedSummary } from './quality-summary.js';
import { report, type DocRun, type Method, type ModelRuns, type StepResult } from './quality-report.js';

/**
 * `npm run bench -- quality [--limit N] [--model NAME-PART] [--methods choose,baseline]`: what the real models of the cache (scripts/fetch-models.sh) produce on
 * the labelled contracts, in this process (no Redis: the queue adds nothing to what is measured). Per model:
 * docfleet's grounded extraction against a naive baseline (the start of the document that fits, the plain
 * contract schema, no passages, no quotes), the summaries checked against the labels and the source, and
 * throughput.
 */

const CONTEXT_SIZE = 4096;

function corpusDir(): string {
  return path.resolve(process.env.QUALITY_CORPUS_DIR || path.join(ROOT, '../shared/corpus/contracts'));
}

export interface QualityOptions {
  /** Take the first N labelled contracts. */
  limit?: number;
  /** Run only the cached models whose file name contains this. */
  only?: string;
  /** The extraction methods to run and compare. */
  methods: readonly Method[];
  /** Called after each contract with the results so far, so a run cut short still leaves honest figures. */
  progress?: (json: Record<string, unknown>) => Promise<void>;
}

/**
 * The models take turns per contract, so a run stopped early has the same contracts for every model.
 * The JSON says how many contracts are done (`documents: "6 of 10"`) and `complete` only at the end.
 */
export async function quality(opts: QualityOptions) {
  const dir = corpusDir();
  const labels = await readLabels(dir);
  const chosen = labels.slice(0, opts.limit ?? labels.length);
  const skipped: string[] = [];
  const models: ModelRun[] = [];
  const extractor = new PdfTextExtractor();
  const sourceTexts = new Map<string, string>();
  const results = () => {
    const done = chosen.slice(0, sourceTexts.size);
    const reports = models.map((m) => ({ name: m.name, ...report(m.runs, done, sourceTexts) }));
    const json = {
      corpus: dir,
      documents: `${done.length} of ${chosen.length}`,
      complete: done.length === chosen.length,
      files: done.map((l) => l.file),
      methods: opts.methods,
      models: Object.fromEntries(reports.map((r) => [r.name, r.json])),
    };
    return { json, text: [...skipped, ...reports.map((r) => r.text)].join('\n\n') };
  };
  try {
    for (const name of REAL_MODELS.filter((m) => !opts.only || m.includes(opts.only))) {
      const modelPath = path.join(modelCacheDir(), name);
      if (existsSync(modelPath)) models.push(await openModel(name, modelPath, opts.methods));
      else skipped.push(`${name}: not in ${modelCacheDir()}, skipped (scripts/fetch-models.sh fetches it)`);
    }
    skipped.forEach(log);
    await opts.progress?.(results().json);
    for (const [i, label] of (models.length > 0 ? chosen : []).entries()) {
      const uri = path.join(dir, label.file);
      const bytes = await readFile(uri);
      const ref = {
        uri,
        name: label.file,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        bytes: bytes.byteLength,
      };
      const loaded = await loadDocument(ref, models[0]!.limits, { extractor });
      for (const m of models) {
        m.runs.speed ??= await m.host.withSequence(undefined, (env) => measureSpeed(env, loaded.doc.text));
        const run = await runDocument(m.host, opts.methods, loaded, label);
        m.runs.runs.push(run);
        log(`  [${i + 1}/${chosen.length}] ${m.name} ${label.file}: ${loaded.pages} pages, ${round(run.seconds)} s`);
      }
      sourceTexts.set(label.file, loaded.doc.text);
      await opts.progress?.(results().json);
    }
  } finally {
    await extractor.close();
    for (const m of models) await m.host.dispose();
  }
  return results();
}

async function readLabels(dir: string): Promise<LabelledDoc[]> {
  const labels = parseLabels(JSON.parse(await readFile(path.join(dir, 'labels.json'), 'utf8')));
  return labels.filter((l) => existsSync(path.join(dir, l.file)));
}

/** What quality.json holds per model (see report()). */
interface SavedModel {
  threads: number;
  contextSize: number;
  methods: Method[];
  throughput: { promptTokS?: number; genTokS?: number };
  runs: DocRun[];
}

/** The tables of a saved run (`--tables bench/results/quality.json`), also of one that was cut short. */
export async function qualityTables(file: string): Promise<string> {
  const saved = JSON.parse(await readFile(file, 'utf8')) as {
    corpus: string;
    documents: string;
    complete: boolean;
    models: Record<string, SavedModel>;
  };
  const labels = await readLabels(saved.corpus);
  const tables = Object.entries(saved.models).map(([name, m]) => {
    const { promptTokS, genTokS } = m.throughput;
    const speed = promptTokS !== undefined && genTokS !== undefined ? { promptTokS, genTokS } : undefined;
    const runs = { model: name.replace(/\.gguf$/, ''), threads: m.threads, contextSize: m.contextSize, speed };
    const done = labels.filter((l) => m.runs.some((r) => r.file === l.file));
    return report({ ...runs, methods: m.methods, runs: m.runs }, done, new Map()).text;
  });
  const state = saved.complete ? 'complete' : 'cut short';
  return [`${file}: contracts ${saved.documents} (${state})`, ...tables].join('\n\n');
}

interface ModelRun {
  name: string;
  host: ModelHost;
  limits: DocumentLimits;
  runs: ModelRuns;
}

type DocumentLimits = Parameters<typeof loadDocument>[1];

function limitsOf(config: ReturnType<typeof loadWorkerConfig>): DocumentLimits {
  return {
    maxBytes: config.maxDocumentMb * MiB,
    maxPages: config.maxPages,
    parseTimeoutMs: config.parseTimeoutMs,
    parseMemoryMb: config.parseMemoryMb,
  };
}

/** Loads a model with the worker's defaults (threads, device) from its configuration and the eval's moderate context. */
async function openModel(name: string, modelPath: string, methods: readonly Method[]): Promise<ModelRun> {
  const config = loadWorkerConfig({ ...process.env, MODEL_PATH: modelPath });
  const host = await ModelHost.load({
    modelPath,
    device: config.device,
    role: 'generate',
    sequences: 1,
    threads: config.threads,
    contextSize: CONTEXT_SIZE,
    gpuLayers: config.gpuLayers,
  });
  log(`${host.modelName}: context ${host.contextSize}, ${host.threads} thread(s)`);
  const runs = { model: host.modelName, threads: host.threads, contextSize: CONTEXT_SIZE, methods, runs: [] };
  return { name, host, limits: limitsOf(config), runs };
}

async function runDocument(
  host: ModelHost,
  methods: readonly Method[],
  loaded: { doc: DocumentText; pages: number },
  label: LabelledDoc,
): Promise<DocRun> {
  const run: DocRun = { file: label.file, pages: loaded.pages, tokensIn: 0, tokensOut: 0, seconds: 0 };
  const started = performance.now();
  for (const method of methods) {
    run[method] = await timedStep(
      run,
      method === 'baseline'
        ? (env) => baseline(env, loaded.doc.text)
        : async (env) => {
            const r = await extract(env, loaded.doc, { method });
            return { ...r, grounding: checkGrounding(r.output, loaded.doc.text, label) };
          },
      host,
    );
  }
  run.summary = await timedSummary(run, host, loaded.doc, label);
  run.seconds = (performance.now() - started) / 1000;
  return run;
}

/** Runs one generating step on a sequence, counting its tokens into the document's run; errors are kept, not thrown. */
async function timedStep<T extends { tokensIn: number; tokensOut: number; output: unknown }>(
  run: DocRun,
  step: (env: GenerationEnv) => Promise<T & { grounding?: GroundingCheck }>,
  host: ModelHost,
): Promise<StepResult> {
  const started = performance.now();
  try {
    const r = await host.withSequence(undefined, step);
    run.tokensIn += r.tokensIn;
    run.tokensOut += r.tokensOut;
    const output = r.output as Partial<ExtractOutput>;
    return {
      fields: output.fields ?? {},
      grounding: r.grounding ?? { values: 0, grounded: 0, atOffsets: 0, groundedCorrect: 0 },
      seconds: (performance.now() - started) / 1000,
    };
  } catch (err) {
    return {
      fields: {},
      grounding: { values: 0, grounded: 0, atOffsets: 0, groundedCorrect: 0 },
      seconds: (performance.now() - started) / 1000,
      error: (err as Error).message,
    };
  }
}

/** The naive way: the start of the document that fits, the plain contract schema, no passages and no quotes. */
async function baseline(env: GenerationEnv, text: string) {
  const grammar = await env.model.llama.createGrammarForJsonSchema(
    boundedForGrammar(CONTRACT_SCHEMA, { maxLength: 120, maxItems: 4 }),
  );
  const wrap = env.style.chat
    ? (slice: string) =>
        `Extract the contract's fields from the document below as JSON.\n\n<document>\n${slice}\n</document>`
    : (slice: string) => `Document:\n${slice}\n\nThe fields of the contract above as JSON:\n`;
  const res = await generate(env, { text, wrap, maxTokens: 512, grammar });
  let fields: Record<string, unknown> = {};
  try {
    fields = JSON.parse(res.text) as Record<string, unknown>;
  } catch {
    // Cut off at maxTokens: no values.
  }
  return { output: { fields }, tokensIn: res.tokensIn, tokensOut: res.tokensOut };
}

/** Prompt tokens/s (1,024 tokens of the document evaluated at once) and generated tokens/s (64 tokens). */
async function measureSpeed(env: GenerationEnv, text: string) {
  const { model, sequence } = env;
  const tokens = model.tokenize(text).slice(0, 1024);
  let t0 = performance.now();
  await sequence.evaluateWithoutGeneratingNewTokens(tokens);
  const promptTokS = tokens.length / ((performance.now() - t0) / 1000);
  await sequence.clearHistory();
  let n = 0;
  t0 = performance.now();
  for await (const _ of sequence.evaluate(model.tokenize('This Agreement'), { temperature: 0 })) if (++n >= 64) break;
  const genTokS = n / ((performance.now() - t0) / 1000);
  await sequence.clearHistory();
  return { promptTokS: round(promptTokS), genTokS: round(genTokS) };
}
