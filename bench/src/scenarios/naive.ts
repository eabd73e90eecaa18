import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { Queue, Worker } from 'bullmq';
import { getLlama, LlamaCompletion } from 'node-llama-cpp';
import { Redis } from 'ioredis';
import { round, summarizePrompt } from '../common.js';
import type { GenerationRun } from './generation-run.js';

export interface NaiveInput {
  modelPath: string;
  files: string[];
  maxTokens: number;
  redisUrl: string;
  /** The run stops after this long, whatever is left. */
  capMs: number;
}

/**
 * What a user writes in an afternoon from the BullMQ and node-llama-cpp READMEs: a Worker with
 * concurrency 1, getLlama() and createContext() with their defaults, a LlamaCompletion per job.
 */
// A connection as the BullMQ README makes one.
const connectRedis = (url: string) => new Redis(url, { maxRetriesPerRequest: null });

export async function naive(input: NaiveInput): Promise<GenerationRun> {
  const connection = connectRedis(input.redisUrl);
  const queue = new Queue('summaries', { connection });
  await queue.addBulk(input.files.map((path) => ({ name: 'summarize', data: { path } })));

  const loadStart = performance.now();
  const llama = await getLlama();
  const model = await llama.loadModel({ modelPath: input.modelPath });
  const context = await model.createContext();
  const sequence = context.getSequence();
  const loadMs = performance.now() - loadStart;

  const abort = new AbortController();
  const latencyMs: number[] = [];
  const e2eMs: number[] = [];
  const startMs: number[] = [];
  let tokensOut = 0;
  let tokensIn = 0;
  let allDone!: () => void;
  const finished = new Promise<void>((resolve) => (allDone = resolve));
  const t0 = performance.now();
  const worker = new Worker<{ path: string }>(
    'summaries',
    async (job) => {
      const started = performance.now();
      const text = await readFile(job.data.path, 'utf8');
      const completion = new LlamaCompletion({ contextSequence: sequence });
      try {
        const before = sequence.tokenMeter.getState();
        const summary = await completion.generateCompletion(summarizePrompt(text), {
          maxTokens: input.maxTokens,
          signal: abort.signal,
          onToken: (tokens) => (tokensOut += tokens.length),
        });
        tokensIn += sequence.tokenMeter.diff(before).usedInputTokens;
        const end = performance.now();
        latencyMs.push(end - started);
        e2eMs.push(end - t0);
        startMs.push(started - t0);
        if (latencyMs.length === input.files.length) allDone();
        return { summary };
      } finally {
        completion.dispose();
      }
    },
    { connection: connectRedis(input.redisUrl), concurrency: 1 },
  );
  worker.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([finished, new Promise((r) => (timer = setTimeout(r, input.capMs)))]);
  clearTimeout(timer);
  const wallMs = performance.now() - t0;
  abort.abort();
  await worker.close();
  await queue.close();
  connection.disconnect();
  const result: GenerationRun = {
    docs: input.files.length,
    completed: latencyMs.length,
    tokensIn,
    tokensOut,
    wallMs,
    latencyMs,
    e2eMs,
    startMs,
    slots: 1,
    settings: {
      sequences: 1,
      contextSize: context.contextSize,
      threads: context.currentThreads,
      llamaMaxThreads: llama.maxThreads,
      cpuMathCores: llama.cpuMathCores,
      availableParallelism: os.availableParallelism(),
      flashAttention: context.flashAttention,
      loadMs: round(loadMs),
      capMs: input.capMs,
    },
  };
  await llama.dispose();
  return result;
}
