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
import { log, markdownTable, ratio, round, ROOT } from './common.js';
import { startWorker, submitAndWait, type FleetEnv } from './fleet.js';

/**
 * `npm run bench -- long`: the long-document figures of issue 3 — chunking throughput over the contract
 * corpus with the model's own tokenizer, and the wall time of one long contract's map-reduce summary
 * flow with one worker and with two, each worker pinned to a CPU of its own (as pods of 1 CPU), so that the
 * figure shows a document's parts spreading over workers rather than two workers sharing cores.
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
    oneWorkerSeconds: number;
    twoWorkersSeconds: number;
    speedup: number | null;
  };
}

export async function longDocuments(
  env: Omit<FleetEnv, 'prefix'> & { prefix: () => string },
): Promise<{ text: string; json: LongDocumentsResult }> {
  const chunking = await chunkingThroughput(env.modelPath);
  const one = await flowRun({ ...env, prefix: env.prefix() }, 1);
  const two = await flowRun({ ...env, prefix: env.prefix() }, 2);
  const mapReduce = {
    document: LONG_CONTRACT,
    pages: one.pages,
    parts: one.parts,
    levels: one.levels,
    oneWorkerSeconds: one.seconds,
    twoWorkersSeconds: two.seconds,
    speedup: ratio(one.seconds, two.seconds),
  };
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
    markdownTable(
      ['workers (1 CPU each)', 'wall seconds'],
      [
        [1, one.seconds],
        [2, two.seconds],
        ['speed-up', mapReduce.speedup],
      ],
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
  const handles = await Promise.all(
    Array.from({ length: workers }, (_, i) => startWorker(env, FLOW_FLAGS, pin ? { cpu: i } : {})),
  );
  const producer = new Producer(loadProducerConfig({ REDIS_URL: env.redisUrl, DOCFLEET_PREFIX: env.prefix }));
  try {
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
    return { seconds, pages: stored.result.pages, parts: output.parts, levels: output.levels };
  } finally {
    await producer.close();
    await Promise.all(handles.map((h) => h.stop()));
  }
}
