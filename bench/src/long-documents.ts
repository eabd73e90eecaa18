import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { loadProducerConfig } from '../../dist/shared/config.js';
import { loadDocument, type LoadedDocument } from '../../dist/worker/text/document-loader.js';
import { PdfTextExtractor } from '../../dist/worker/text/pdf-text.js';
import { chunkBudget } from '../../dist/worker/text/chunk-budget.js';
import { chunkDocument } from '../../dist/worker/text/token-chunker.js';
import { Producer } from '../../dist/producer/producer.js';
import { fleetEnv, type Context } from './bench-context.js';
import { cpuSecondsOf, log, markdownTable, median, round, ROOT } from './common.js';
import { startWorker, submitAndWait, type FleetEnv } from './fleet.js';
import { FlowTimeline, type FlowPhase } from './flow-timeline.js';

/**
 * `npm run bench -- long [--rounds N]`: chunking throughput over the contract corpus with the model's own
 * tokenizer, and the wall time of one long contract's map-reduce summary flow with one worker and with two,
 * each worker pinned to a CPU of its own (as pods of 1 CPU), so that the figure shows a document's parts
 * spreading over workers rather than two workers sharing cores.
 */

export const CONTRACTS = path.resolve(ROOT, '../shared/corpus/contracts');
/** The corpus's longest contract (106 pages). */
export const LONG_CONTRACT = '03_service_verizon.pdf';
/** As the flow test: a 1024-token context, short part summaries, two sequences per worker. */
const FLOW_FLAGS = ['--role', 'generate', '--concurrency', '2', '--context-size', '1024'];
const FLOW_MAX_TOKENS = 64;
const CHUNK_SIZES = [
  { name: 'generation (4096-token context)', tokens: chunkBudget(4096, 40, 256) },
  { name: 'embedding', tokens: 510 },
];

export interface MapReduceRun {
  round: number;
  workers: number;
  seconds: number;
  /** Where the slots stood idle (flow-timeline.ts). */
  phases: FlowPhase[];
  /** Cores that processes outside the benchmark took meanwhile. */
  foreignCores: number;
  /** Cores the workers got, together: below the count of workers, they waited for a CPU. */
  workerCores: number;
}

export interface LongDocumentsResult {
  chunking: {
    sizeTokens: number;
    name: string;
    documents: number;
    pages: number;
    chunks: number;
    seconds: number;
    pagesPerSecond: number;
  }[];
  mapReduce: {
    document: string;
    pages: number;
    parts: number;
    levels: number;
    /** Two workers' time / one worker's, per round; the target is judged by their median. */
    ratios: number[];
    medianRatio: number | null;
    target: number;
    met: boolean;
    runs: MapReduceRun[];
  };
}

function mapReduceOf(
  shape: { pages: number; parts: number; levels: number },
  runs: MapReduceRun[],
): LongDocumentsResult['mapReduce'] {
  const ratios: number[] = [];
  for (let r = 1; runs.some((x) => x.round === r && x.workers === 2); r++) {
    const [one, two] = [1, 2].map((w) => runs.find((x) => x.round === r && x.workers === w)!);
    ratios.push(round(two!.seconds / one!.seconds, 3));
  }
  const medianRatio = ratios.length > 0 ? median(ratios) : null;
  const { pages, parts, levels } = shape;
  const met = medianRatio !== null && medianRatio <= TARGET;
  return { document: LONG_CONTRACT, pages, parts, levels, ratios, medianRatio, target: TARGET, met, runs };
}

/** Two workers on one CPU each must finish the long contract in at most this share of one worker's time. */
const TARGET = 0.6;

/**
 * Rounds of one worker, then two, alternated: the machine's drift then weighs on both sides of every
 * round's ratio alike. `save` gets the figures so far after every round, so a run cut short keeps them.
 */
export async function longDocuments(
  ctx: Context,
  rounds: number,
  save: (json: LongDocumentsResult) => Promise<void>,
): Promise<{ text: string; json: LongDocumentsResult }> {
  const chunking = await chunkingThroughput(ctx.modelPath);
  const runs: MapReduceRun[] = [];
  let shape = { pages: 0, parts: 0, levels: 0 };
  for (let r = 1; r <= rounds; r++) {
    for (const workers of [1, 2]) {
      const phase = `map-reduce ${workers} worker(s) ${r}`;
      const run = await ctx.measure(phase, () => flowRun(fleetEnv(ctx), workers));
      shape = run;
      const foreignCores = ctx.disturbances.at(-1)?.foreignCores ?? 0;
      const { seconds, phases, workerCores } = run;
      runs.push({ round: r, workers, seconds, phases, foreignCores, workerCores });
    }
    await save({ chunking, mapReduce: mapReduceOf(shape, runs) });
  }
  const mapReduce = mapReduceOf(shape, runs);
  const { ratios, medianRatio } = mapReduce;
  const medianOf = (workers: number) => median(runs.filter((r) => r.workers === workers).map((r) => r.seconds));
  const two = runs.filter((r) => r.workers === 2);
  const middle = two.find((r) => r.seconds === medianOf(2)) ?? two[0];
  const text = [
    '### Chunking (model tokenizer, page/paragraph boundaries; PDF parsing not included)',
    '',
    markdownTable(
      ['chunk size', 'tokens', 'documents', 'pages', 'chunks', 'seconds', 'pages/s'],
      chunking.map((c) => [c.name, c.sizeTokens, c.documents, c.pages, c.chunks, c.seconds, c.pagesPerSecond]),
    ),
    '',
    `### Map-reduce summary of ${LONG_CONTRACT} (${mapReduce.pages} pages, ${mapReduce.parts} parts, ${mapReduce.levels} combining round(s))`,
    '',
    `${rounds} round(s), each one worker then two, each worker pinned to a CPU of its own.`,
    '',
    markdownTable(
      ['round', '1 worker s', '2 workers s', '2 / 1', "others' cores (1 / 2)", "workers' cores (1 / 2)"],
      ratios.map((q, i) => {
        const [a, b] = runs.filter((r) => r.round === i + 1);
        return [
          i + 1,
          a!.seconds,
          b!.seconds,
          q,
          `${a!.foreignCores} / ${b!.foreignCores}`,
          `${a!.workerCores} / ${b!.workerCores}`,
        ];
      }),
    ),
    '',
    `Median of per-round ratios: ${medianRatio} (target ≤ ${TARGET}: ${mapReduce.met ? 'met' : 'not met'}); ` +
      `median times ${medianOf(1)} s and ${medianOf(2)} s.`,
    '',
    `Where the slots of the median two-worker run (round ${middle?.round}) stood idle:`,
    '',
    markdownTable(
      ['phase', 'jobs started', 'wall s', 'idle slot-s', 'slot use'],
      (middle?.phases ?? []).map((p) => [p.phase, p.jobs, p.wallSeconds, p.idleSlotSeconds, p.slotUse]),
    ),
  ].join('\n');
  return { text, json: { chunking, mapReduce } };
}

async function chunkingThroughput(modelPath: string): Promise<LongDocumentsResult['chunking']> {
  const extractor = new PdfTextExtractor();
  const docs: LoadedDocument[] = [];
  try {
    const limits = { maxBytes: 100 * 2 ** 20, maxPages: 5_000, parseTimeoutMs: 120_000, parseMemoryMb: 1024 };
    for (const file of (await readdir(CONTRACTS)).filter((f) => f.endsWith('.pdf')).sort()) {
      const uri = path.join(CONTRACTS, file);
      docs.push(await loadDocument({ uri, name: file, sha256: '', bytes: 0 }, limits, { extractor }));
    }
  } finally {
    await extractor.close();
  }
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  try {
    const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
    const countTokens = (t: string) => model.tokenize(t).length;
    const pages = docs.reduce((n, d) => n + d.pages, 0);
    return CHUNK_SIZES.map(({ name, tokens }) => {
      const t0 = performance.now();
      let chunks = 0;
      for (const d of docs)
        chunks += chunkDocument(d.doc, {
          maxTokens: tokens,
          overlapTokens: Math.floor(tokens / 32),
          countTokens,
        }).length;
      const seconds = (performance.now() - t0) / 1000;
      log(
        `  chunking at ${tokens} tokens: ${docs.length} documents, ${pages} pages, ${chunks} chunks in ${round(seconds, 2)} s`,
      );
      return {
        name,
        sizeTokens: tokens,
        documents: docs.length,
        pages,
        chunks,
        seconds: round(seconds, 2),
        pagesPerSecond: round(pages / seconds),
      };
    });
  } finally {
    await llama.dispose();
  }
}

async function flowRun(env: FleetEnv, workers: number) {
  const pin = os.availableParallelism() >= workers;
  const timeline = new FlowTimeline();
  const handles = await Promise.all(
    Array.from({ length: workers }, (_, i) =>
      startWorker(env, FLOW_FLAGS, {
        ...(pin ? { cpu: i } : {}),
        documentsRoots: [CONTRACTS],
        onJobLine: timeline.listener(i),
      }),
    ),
  );
  const producer = new Producer(loadProducerConfig({ REDIS_URL: env.redisUrl, DOCFLEET_PREFIX: env.prefix }));
  const cpu = () => Promise.all(handles.map((h) => cpuSecondsOf(h.proc.pid!)));
  try {
    const cpuBefore = await cpu();
    const { t0, results } = await submitAndWait(
      producer,
      path.join(CONTRACTS, LONG_CONTRACT),
      FLOW_MAX_TOKENS,
      30 * 60_000,
    );
    const [stored] = results;
    if (stored?.status !== 'completed')
      throw new Error(`map-reduce run failed: ${JSON.stringify(stored?.error ?? stored?.status)}`);
    if (stored.result?.task !== 'summarize') throw new Error('map-reduce run stored no summary');
    const output = stored.result.output;
    const seconds = round((stored.finishedAt - t0) / 1000, 1);
    log(
      `  map-reduce with ${workers} worker(s): ${output.parts} parts, ${output.levels} combining round(s), ${seconds} s`,
    );
    const slots = workers * Number(FLOW_FLAGS[FLOW_FLAGS.indexOf('--concurrency') + 1]);
    const phases = timeline.phases(t0, stored.finishedAt, slots);
    const used = (await cpu()).reduce((n, c, i) => n + c - cpuBefore[i]!, 0);
    const workerCores = round(used / ((Date.now() - t0) / 1000), 2);
    return { seconds, pages: stored.result.pages, parts: output.parts, levels: output.levels, phases, workerCores };
  } finally {
    await producer.close();
    await Promise.all(handles.map((h) => h.stop()));
  }
}
