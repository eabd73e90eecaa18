import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseLabels, score, type LabelledDoc, type Prediction } from '../../dist/eval/score.js';
import { MiB, loadWorkerConfig } from '../../dist/shared/config.js';
import type { ExtractOutput } from '../../dist/shared/tasks/extract.js';
import type { PartSummary } from '../../dist/shared/tasks/summarize.js';
import { generate, type GenerationEnv } from '../../dist/worker/model/generation.js';
import { ModelHost } from '../../dist/worker/model/model-host.js';
import { CONTRACT_SCHEMA } from '../../dist/worker/tasks/extract/contract-schema.js';
import { extract } from '../../dist/worker/tasks/extract/extract.js';
import { boundedForGrammar } from '../../dist/worker/tasks/extract/schema-grammar.js';
import { combinedText, planCombine, planSummary, summarize } from '../../dist/worker/tasks/summarize/summarize.js';
import { loadDocument } from '../../dist/worker/text/document-loader.js';
import type { DocumentText } from '../../dist/worker/text/document-text.js';
import { PdfTextExtractor } from '../../dist/worker/text/pdf-text.js';
import { log, markdownTable, ROOT, round } from './common.js';
import { checkGrounding, checkSummary, type GroundingCheck, type SummaryCheck } from './quality-measures.js';

/**
 * `npm run bench -- quality [--limit N] [--model NAME-PART]`: what the real models of the cache (scripts/fetch-models.sh) produce on
 * the labelled contracts, in this process (no Redis: the queue adds nothing to what is measured). Per model:
 * docfleet's grounded extraction against a naive baseline (the start of the document that fits, the plain
 * contract schema, no passages, no quotes), the summaries checked against the labels and the source, and
 * throughput.
 */

export const REAL_MODELS = ['smollm2-135m-instruct-q4_1.gguf', 'gemma-3-270m-q4_k_m.gguf'];
const CONTEXT_SIZE = 4096;

export function modelCacheDir(): string {
  const base = process.env.DOCFLEET_CACHE_DIR || path.join(os.homedir(), '.cache', 'docfleet');
  return path.join(base, 'models');
}

function corpusDir(): string {
  return path.resolve(process.env.QUALITY_CORPUS_DIR || path.join(ROOT, '../shared/corpus/contracts'));
}

const METHODS = ['quote', 'choose', 'baseline'] as const;
type Method = (typeof METHODS)[number];

interface StepResult {
  fields: Record<string, unknown>;
  grounding: GroundingCheck;
  seconds: number;
  error?: string;
}

interface DocRun {
  file: string;
  pages: number;
  /** docfleet's extract, method quote (the default) and method choose. */
  quote?: StepResult;
  choose?: StepResult;
  baseline?: StepResult;
  summary?: { text: string; parts: number; check: SummaryCheck; seconds: number; error?: string };
  tokensIn: number;
  tokensOut: number;
  seconds: number;
}

export async function quality(limit: number | undefined, only?: string) {
  const dir = corpusDir();
  const labels = parseLabels(JSON.parse(await readFile(path.join(dir, 'labels.json'), 'utf8'))).filter((l) =>
    existsSync(path.join(dir, l.file)),
  );
  const chosen = labels.slice(0, limit ?? labels.length);
  const texts: string[] = [];
  const json: Record<string, unknown> = { corpus: dir, documents: chosen.map((l) => l.file), models: {} };
  for (const name of REAL_MODELS.filter((m) => !only || m.includes(only))) {
    const modelPath = path.join(modelCacheDir(), name);
    if (!existsSync(modelPath)) {
      const line = `${name}: not in ${modelCacheDir()}, skipped (scripts/fetch-models.sh fetches it)`;
      log(line);
      texts.push(line);
      continue;
    }
    const result = await runModel(modelPath, chosen);
    (json.models as Record<string, unknown>)[name] = result.json;
    texts.push(result.text);
  }
  return { json, text: texts.join('\n\n') };
}

async function runModel(modelPath: string, labels: LabelledDoc[]) {
  // The worker's defaults (threads, device) from its configuration, with the eval's moderate context.
  const config = loadWorkerConfig({ model: modelPath });
  const host = await ModelHost.load({
    modelPath,
    device: config.device,
    role: 'generate',
    sequences: 1,
    threads: config.threads,
    contextSize: CONTEXT_SIZE,
    gpuLayers: config.gpuLayers,
  });
  const limits = {
    maxBytes: config.maxDocumentMb * MiB,
    maxPages: config.maxPages,
    parseTimeoutMs: config.parseTimeoutMs,
    parseMemoryMb: config.parseMemoryMb,
  };
  log(`${host.modelName}: context ${host.contextSize}, ${host.threads} thread(s)`);
  const extractor = new PdfTextExtractor();
  const runs: DocRun[] = [];
  const sourceTexts = new Map<string, string>();
  let speed: { promptTokS: number; genTokS: number } | undefined;
  try {
    for (const [i, label] of labels.entries()) {
      const uri = path.join(corpusDir(), label.file);
      const bytes = await readFile(uri);
      const ref = {
        uri,
        name: label.file,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        bytes: bytes.byteLength,
      };
      const loaded = await loadDocument(ref, limits, { extractor });
      sourceTexts.set(label.file, loaded.doc.text);
      speed ??= await host.withSequence(undefined, (env) => measureSpeed(env, loaded.doc.text));
      const run: DocRun = { file: label.file, pages: loaded.pages, tokensIn: 0, tokensOut: 0, seconds: 0 };
      const started = performance.now();
      for (const method of ['quote', 'choose'] as const) {
        run[method] = await timedStep(
          run,
          async (env) => {
            const r = await extract(env, loaded.doc, { method });
            return { ...r, grounding: checkGrounding(r.output, loaded.doc.text, label) };
          },
          host,
        );
      }
      run.baseline = await timedStep(run, (env) => baseline(env, loaded.doc.text), host);
      run.summary = await timedSummary(run, host, loaded.doc, label);
      run.seconds = (performance.now() - started) / 1000;
      runs.push(run);
      log(`  [${i + 1}/${labels.length}] ${label.file}: ${loaded.pages} pages, ${round(run.seconds)} s`);
    }
  } finally {
    await extractor.close();
    await host.dispose();
  }
  return report(host.modelName, host.threads, runs, labels, sourceTexts, speed);
}

/** Runs one generating step on a sequence, counting its tokens into the document's run; errors are kept, not thrown. */
async function timedStep<T extends { tokensIn: number; tokensOut: number; output: unknown }>(
  run: DocRun,
  step: (env: GenerationEnv) => Promise<T & { grounding?: GroundingCheck }>,
  host: ModelHost,
): Promise<{ fields: Record<string, unknown>; grounding: GroundingCheck; seconds: number; error?: string }> {
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

/** A summary as a worker makes it: one prompt when the document fits, else map-reduce over its chunks, in process. */
async function timedSummary(run: DocRun, host: ModelHost, doc: DocumentText, label: LabelledDoc) {
  const started = performance.now();
  const add = (r: { tokensIn: number; tokensOut: number }) => {
    run.tokensIn += r.tokensIn;
    run.tokensOut += r.tokensOut;
  };
  try {
    const plan = planSummary(host.textModel, doc, {});
    let text: string;
    let parts = 1;
    if (!plan) {
      const r = await host.withSequence(undefined, (env) => summarize(env, doc, {}));
      add(r);
      text = r.output.summary;
    } else {
      parts = plan.chunks.length;
      let done: PartSummary[] = [];
      for (const c of plan.chunks) {
        const sources = [{ chunk: c.index, start: c.start, end: c.end, pageStart: c.pageStart, pageEnd: c.pageEnd }];
        const part = {
          round: 'q',
          level: 0,
          index: c.index,
          text: c.text,
          maxTokens: plan.partTokens,
          sources,
          truncated: false,
        };
        const r = await host.withSequence(undefined, (env) =>
          summarize(env, { text: c.text, pageStarts: [0] }, {}, part),
        );
        add(r);
        done.push({ ...part, summary: r.output.summary, tokensIn: r.tokensIn, tokensOut: r.tokensOut });
      }
      for (let level = 1; ; level++) {
        const next = planCombine(host.textModel, done, {});
        const groups = next.final ? [done] : next.groups;
        const maxTokens = next.final ? 256 : next.partTokens;
        const combined: PartSummary[] = [];
        for (const [index, group] of groups.entries()) {
          const part = {
            round: 'q',
            level,
            index,
            text: combinedText(group),
            maxTokens,
            sources: group.flatMap((p) => p.sources),
            truncated: false,
          };
          const r = await host.withSequence(undefined, (env) =>
            summarize(env, { text: part.text, pageStarts: [0] }, {}, part),
          );
          add(r);
          combined.push({ ...part, summary: r.output.summary, tokensIn: r.tokensIn, tokensOut: r.tokensOut });
        }
        done = combined;
        if (next.final || groups.length >= done.length + 1) break;
      }
      text = done.map((p) => p.summary).join('\n');
    }
    return { text, parts, check: checkSummary(text, doc.text, label), seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    const check = checkSummary('', doc.text, label);
    return { text: '', parts: 0, check, seconds: (performance.now() - started) / 1000, error: (err as Error).message };
  }
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

const pct = (n: number | null | undefined) => (n === null || n === undefined ? '–' : `${Math.round(n * 100)}%`);
const share = (a: number, b: number) => (b > 0 ? a / b : null);

function report(
  model: string,
  threads: number,
  runs: DocRun[],
  labels: LabelledDoc[],
  texts: Map<string, string>,
  speed: { promptTokS: number; genTokS: number } | undefined,
) {
  const scores = Object.fromEntries(
    METHODS.map((m) => [
      m,
      score(
        labels,
        runs.map((r) => ({ file: r.file, fields: stringFields(r[m]?.fields ?? {}) })),
        texts,
      ),
    ]),
  ) as Record<Method, ReturnType<typeof score>>;
  const grounding = Object.fromEntries(
    METHODS.map((m) => [
      m,
      runs.reduce(
        (a, r) => {
          const x = r[m]?.grounding;
          if (x) for (const k of Object.keys(a) as (keyof GroundingCheck)[]) a[k] += x[k];
          return a;
        },
        { values: 0, grounded: 0, atOffsets: 0, groundedCorrect: 0 },
      ),
    ]),
  ) as Record<Method, GroundingCheck>;
  const checks = runs.flatMap((r) => (r.summary ? [r.summary.check] : []));
  const named = (k: 'parties' | 'governingLaw' | 'term') => {
    const known = checks.filter((c) => c[k] !== null);
    return `${known.filter((c) => c[k]).length}/${known.length}`;
  };
  const sentences = checks.reduce((n, c) => n + c.sentences, 0);
  const supported = checks.reduce((n, c) => n + c.supported, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const pages = runs.reduce((n, r) => n + r.pages, 0);
  const through = {
    ...speed,
    tokensIn: runs.reduce((n, r) => n + r.tokensIn, 0),
    tokensOut: runs.reduce((n, r) => n + r.tokensOut, 0),
    documentsPerMinute: round((runs.length / seconds) * 60, 2),
    secondsPer100Pages: round((seconds / Math.max(1, pages)) * 100),
  };
  type Row = ReturnType<typeof score>['overall'];
  const cells = (c: Row) => [c.predicted, pct(c.precision), pct(c.recall), pct(c.f1)];
  const fieldRows = [
    ...(Object.keys(scores.quote.fields) as (keyof typeof scores.quote.fields)[]),
    'overall' as const,
  ].map((f) => {
    const of = (m: Method) => (f === 'overall' ? scores[m].overall : scores[m].fields[f]);
    return [f, of('quote').support, ...METHODS.flatMap((m) => cells(of(m)))];
  });
  const groundingLine = (m: Method) => {
    const g = grounding[m];
    return (
      `Grounding (${m}): ${g.grounded}/${g.values} values with their quote found (${pct(share(g.grounded, g.values))}); ` +
      `at the reported offsets ${g.atOffsets}/${g.grounded} (${pct(share(g.atOffsets, g.grounded))}); ` +
      `grounded and correct ${g.groundedCorrect}/${g.grounded} (${pct(share(g.groundedCorrect, g.grounded))}).`
    );
  };
  const errors = runs.flatMap((r) =>
    ([...METHODS, 'summary'] as const).flatMap((k) => (r[k]?.error ? [`${r.file} ${k}: ${r[k].error}`] : [])),
  );
  const text = [
    `### ${model} (${runs.length} contracts, ${pages} pages, ${threads} thread(s), context ${CONTEXT_SIZE})`,
    '',
    markdownTable(['field', 'labelled', ...METHODS.flatMap((m) => [`${m} values`, 'P', 'R', 'F1'])], fieldRows),
    '',
    'quote: docfleet extract, the model writes each value with a verbatim quote (the default method); ' +
      'choose: it picks per field one of the sentences ranked best by keywords; ' +
      'baseline: the start of the document that fits, plain contract schema, no passages, no quotes.',
    '',
    groundingLine('quote'),
    groundingLine('choose'),
    `Summaries: name the parties ${named('parties')}, the governing law ${named('governingLaw')}, the term ${named('term')}; ` +
      `sentences supported by the source ${supported}/${sentences} (${pct(share(supported, sentences))}).`,
    `Throughput: prompt ${speed?.promptTokS ?? '–'} tok/s, generation ${speed?.genTokS ?? '–'} tok/s; ` +
      `${through.tokensIn} tokens in, ${through.tokensOut} out; ${through.documentsPerMinute} documents/min ` +
      `(quote, choose, baseline and summary each), ${through.secondsPer100Pages} s per 100 pages.`,
    ...(errors.length > 0 ? ['', 'Errors:', ...errors.map((e) => `- ${e}`)] : []),
  ].join('\n');
  return {
    json: { threads, contextSize: CONTEXT_SIZE, scores, grounding, throughput: through, runs },
    text,
  };
}

function stringFields(fields: Record<string, unknown>): Prediction['fields'] {
  const out: Prediction['fields'] = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k as keyof Prediction['fields']] =
      typeof v === 'string' ? v : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null;
  }
  return out;
}
