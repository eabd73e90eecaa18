import { readFile } from 'node:fs/promises';
import { EmbeddingPool } from '../../../dist/worker/model/embedding-pool.js';
import { contextCount } from '../../../dist/worker/model/model-host.js';
import { embed } from '../../../dist/worker/tasks/embed/embed.js';
import { round } from '../common.js';
import { loadTuned } from './tuned-model.js';

export interface EmbedInput {
  modelPath: string;
  files: string[];
  /** Embedding contexts in the pool; `auto` is what a worker creates (CPU budget / threads, at most jobsAtOnce). */
  contexts: number | 'auto';
  /** Jobs embedding at once (a worker's --concurrency). */
  jobsAtOnce: number;
  contextSize: number;
  tuneCacheDir: string;
}

export interface EmbedRun {
  contexts: number;
  threads: number;
  jobsAtOnce: number;
  docs: number;
  chunks: number;
  tokens: number;
  wallMs: number;
  tokensPerSecond: number;
}

/**
 * docfleet's embed task (token-sized chunks at its defaults) over the documents, `jobsAtOnce` jobs at a time,
 * on an EmbeddingPool of `contexts` contexts at the tuner's thread count, as an embedding worker runs it.
 */
export async function embedScenario(input: EmbedInput): Promise<EmbedRun> {
  const { llama, model, tuning } = await loadTuned({ ...input, sequences: input.jobsAtOnce }, 'embed');
  const contexts = contextCount({ device: 'cpu', sequences: input.jobsAtOnce, contexts: input.contexts }, tuning);
  const pool = await EmbeddingPool.create(model, { contexts, contextSize: input.contextSize, threads: tuning.threads });
  const env = { pool, dimensions: model.embeddingVectorSize };
  const docs = await Promise.all(
    input.files.map(async (file) => ({ text: await readFile(file, 'utf8'), pageStarts: [0] })),
  );
  await embed(env, { text: docs[0]!.text.slice(0, 2000), pageStarts: [0] }, {});
  let next = 0;
  let chunks = 0;
  let tokens = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: input.jobsAtOnce }, async () => {
      for (let i = next++; i < docs.length; i = next++) {
        const run = await embed(env, docs[i]!, {});
        chunks += run.output.chunks.length;
        tokens += run.tokensIn;
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const result = {
    contexts: pool.size,
    threads: tuning.threads,
    jobsAtOnce: input.jobsAtOnce,
    docs: docs.length,
    chunks,
    tokens,
    wallMs: Math.round(wallMs),
    tokensPerSecond: round((tokens * 1000) / wallMs),
  };
  await llama.dispose();
  return result;
}
