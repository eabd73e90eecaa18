import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { Queue, Worker } from 'bullmq';
import { getLlama, LlamaCompletion, LlamaLogLevel, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { MiB, loadProducerConfig } from '../../dist/shared/config.js';
import { detectCpuBudget } from '../../dist/shared/cpu-budget.js';
import { jobIdFor } from '../../dist/shared/job-id.js';
import type { DocumentRef } from '../../dist/shared/job-types.js';
import { queueName, queuesServedBy } from '../../dist/shared/queue-layout.js';
import { connectRedis } from '../../dist/shared/redis-connection.js';
import { walkDocuments } from '../../dist/producer/document-walker.js';
import { documentJobOptions } from '../../dist/producer/job-options.js';
import { Producer } from '../../dist/producer/producer.js';
import { QueueConsumer, SlotScheduler } from '../../dist/worker/slot-scheduler.js';
import { EmbeddingPool } from '../../dist/worker/embedding-pool.js';
import { embed } from '../../dist/worker/tasks/embed.js';
import { chooseThreads } from '../../dist/worker/thread-tuner.js';
import { RESULT_MARK, round, summarizePrompt } from './common.js';

/**
 * Scenarios that run in a process of their own (`node bench/dist/child.js <scenario> <json>`), so that
 * each starts clean: one llama.cpp instance per process, no leftover connections or timers.
 */

export interface GenerationRun {
  docs: number;
  /** Documents finished within the run (all of them, unless the run was capped). */
  completed: number;
  tokensIn: number;
  tokensOut: number;
  wallMs: number;
  /** Per finished document: from the moment it was started to its end. */
  latencyMs: number[];
  /** Per finished document: from the start of the run (everything submitted at once) to its end. */
  e2eMs: number[];
  /** Per finished document: when it was started, from the start of the run. */
  startMs: number[];
  /** Jobs that can run at once (sequences × workers). */
  slots: number;
  settings: Record<string, unknown>;
}

export interface CeilingInput {
  modelPath: string;
  files: string[];
  maxTokens: number;
  contextSize: number;
  sequences: number;
  /** Directory of the thread tuner's cache (shared with the docfleet workers of the same run). */
  tuneCacheDir: string;
}

/** The model on the CPU with no library-wide thread cap, and docfleet's own tuner's choice of threads. */
async function loadTuned(input: { modelPath: string; tuneCacheDir: string }, role: 'generate' | 'embed') {
  const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 0, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: input.modelPath, gpuLayers: 0 });
  const tuning = await chooseThreads({ model, modelPath: input.modelPath, role, threads: 'auto', budget: detectCpuBudget(), cacheDir: input.tuneCacheDir });
  return { llama, model, tuning };
}

/**
 * The ceiling: node-llama-cpp driven directly, as fast as we know how. One context with N sequences,
 * the thread count and flash-attention choice of docfleet's own tuner, prompts tokenised before the
 * clock starts, each sequence taking the next prompt as soon as it is done. Sampling is what
 * LlamaCompletion does by default (greedy, repeat penalty over the last 64 tokens, stop at
 * end-of-generation or the token budget), so the work is exactly what docfleet's summarize task asks for.
 */
async function ceiling(input: CeilingInput): Promise<GenerationRun> {
  const { llama, model, tuning } = await loadTuned(input, 'generate');
  const context = await model.createContext({
    sequences: input.sequences,
    contextSize: input.contextSize,
    threads: tuning.threads,
    flashAttention: tuning.flashAttention,
  });
  const sequences = Array.from({ length: input.sequences }, () => context.getSequence());
  const bos = model.tokens.bos !== null && model.tokens.shouldPrependBosToken;
  const prompts = await Promise.all(
    input.files.map(async (file) => {
      const tokens = model.tokenize(summarizePrompt(await readFile(file, 'utf8')), false, bos ? 'trimLeadingSpace' : undefined);
      return bos ? [model.tokens.bos!, ...tokens] : tokens;
    }),
  );

  // Warm-up (not timed): one short generation per sequence, so the run starts with allocated buffers.
  await Promise.all(sequences.map((seq, i) => generate(model, seq, prompts[i % prompts.length]!, 8)));

  const latencyMs: number[] = [];
  const e2eMs: number[] = [];
  const startMs: number[] = [];
  let tokensOut = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    sequences.map(async (seq) => {
      for (let i = next++; i < prompts.length; i = next++) {
        const started = performance.now();
        const generated = await generate(model, seq, prompts[i]!, input.maxTokens);
        tokensOut += generated;
        const end = performance.now();
        latencyMs.push(end - started);
        e2eMs.push(end - t0);
        startMs.push(started - t0);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const result: GenerationRun = {
    docs: prompts.length,
    completed: prompts.length,
    tokensIn: prompts.reduce((n, p) => n + p.length, 0),
    tokensOut,
    wallMs,
    latencyMs,
    e2eMs,
    startMs,
    slots: input.sequences,
    settings: {
      sequences: input.sequences,
      contextSize: context.contextSize,
      threads: context.currentThreads,
      flashAttention: context.flashAttention,
      threadSource: tuning.source,
      threadTrials: tuning.trials,
      flashAttentionTrials: tuning.flashAttentionTrials,
      cpuBudget: tuning.budget,
    },
  };
  await llama.dispose();
  return result;
}

/** Generates into a cleared sequence; returns the number of tokens generated (end-of-generation excluded). */
async function generate(model: LlamaModel, seq: LlamaContextSequence, prompt: Token[], maxTokens: number): Promise<number> {
  await seq.clearHistory();
  const out: Token[] = [];
  const nl = model.tokens.nl;
  const budget = Math.min(maxTokens, seq.contextSize - prompt.length);
  const iterator = seq.evaluate(prompt, {
    repeatPenalty: { punishTokens: () => out.slice(-64).filter((t) => t !== nl), maxPunishTokens: 64 },
    evaluationPriority: 5,
    yieldEogToken: true,
  });
  for await (const token of iterator) {
    if (model.isEogToken(token)) break;
    out.push(token);
    if (out.length >= budget) break;
  }
  return out.length;
}

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
async function naive(input: NaiveInput): Promise<GenerationRun> {
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
  const worker = new Worker(
    'summaries',
    async (job) => {
      const started = performance.now();
      const text = await readFile(job.data.path as string, 'utf8');
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

export interface QueueInput {
  redisUrl: string;
  jobs: number;
  concurrency: number;
  /** docfleet: a directory with `jobs` distinct text documents. */
  docsDir?: string;
  prefix: string;
  /** docfleet diagnostic: consume only the `any` queue (as if the worker served one queue). */
  singleQueue?: boolean;
  /** raw: give each job the options docfleet gives its jobs (content-derived id, retries, retention). */
  jobOptions?: boolean;
}

export interface QueueRun {
  jobs: number;
  concurrency: number;
  enqueueMs: number;
  /** docfleet only: walking and hashing the documents alone, part of enqueueMs. */
  walkMs?: number;
  /** docfleet only: Producer.submitDocuments of the already hashed references (no file reading). */
  enqueueRefsMs?: number;
  processMs: number;
  processed: number;
  /** Redis commands (scripts count as one) per job while processing. */
  redisCommandsPerJob: number;
}

/** Counts the commands Redis executes from now on. */
async function redisCounter(url: string): Promise<() => Promise<number>> {
  const client = connectRedis(url);
  const total = async () => Number(/total_commands_processed:(\d+)/.exec(await client.info('stats'))?.[1] ?? NaN);
  const before = await total();
  // The first INFO is counted in the difference, the second is not.
  return async () => {
    const n = (await total()) - before - 1;
    client.disconnect();
    return n;
  };
}

/** Jobs are added in chunks this big, as the docfleet producer flushes them. */
const ADD_CHUNK = 250;

/**
 * Plain BullMQ: Queue.addBulk, and a Worker with a no-op processor at the given concurrency. With
 * `jobOptions`, each job carries the BullMQ options docfleet sets, so that what the options cost inside
 * BullMQ can be told apart from what docfleet's own layer costs.
 */
async function queueRaw(input: QueueInput): Promise<QueueRun> {
  const name = 'raw-noop';
  const queue = new Queue(name, { connection: connectRedis(input.redisUrl), prefix: input.prefix });
  // Payloads the size of a docfleet job's data, so both sides move the same bytes.
  const data = (i: number) => ({
    batchId: '20250101-0123456789',
    doc: { uri: `/tmp/bench/docs/doc-${String(i).padStart(5, '0')}.txt`, name: `doc-${i}.txt`, sha256: i.toString(16).padStart(64, '0'), bytes: 300 },
    task: 'summarize' as const,
    params: { maxTokens: 16 },
  });
  const opts = (d: ReturnType<typeof data>) => (input.jobOptions ? documentJobOptions(jobIdFor(d.doc.sha256, d.task, d.params), 3) : undefined);
  const t0 = performance.now();
  for (let from = 0; from < input.jobs; from += ADD_CHUNK) {
    const chunk = Array.from({ length: Math.min(ADD_CHUNK, input.jobs - from) }, (_, k) => {
      const d = data(from + k);
      return { name: 'summarize', data: d, opts: opts(d) };
    });
    await queue.addBulk(chunk);
  }
  const enqueueMs = performance.now() - t0;

  let processed = 0;
  let allDone!: () => void;
  const finished = new Promise<void>((resolve) => (allDone = resolve));
  const commands = await redisCounter(input.redisUrl);
  const t1 = performance.now();
  const worker = new Worker(name, async () => ({}), { connection: connectRedis(input.redisUrl), prefix: input.prefix, concurrency: input.concurrency });
  worker.on('completed', () => ++processed === input.jobs && allDone());
  await finished;
  const processMs = performance.now() - t1;
  const redisCommandsPerJob = round((await commands()) / input.jobs, 2);
  await worker.close();
  await queue.close();
  return { jobs: input.jobs, concurrency: input.concurrency, enqueueMs, processMs, processed, redisCommandsPerJob };
}

/**
 * docfleet's paths with nothing behind them: Producer.submit (walk, hash, de-duplicate, addBulk, batch
 * bookkeeping) of real files, then the worker's consumers (its tag's queue and `any`, configured as
 * FleetWorker configures them) driven by the SlotScheduler, with a no-op processor.
 */
async function queueDocfleet(input: QueueInput): Promise<QueueRun> {
  const env = { REDIS_URL: input.redisUrl, DOCFLEET_PREFIX: input.prefix };
  const refs: DocumentRef[] = [];
  const w0 = performance.now();
  for await (const item of walkDocuments([input.docsDir!], 50 * MiB)) if ('ref' in item) refs.push(item.ref);
  const walkMs = performance.now() - w0;
  if (refs.length !== input.jobs) throw new Error(`expected ${input.jobs} documents in ${input.docsDir}, found ${refs.length}`);

  // The queue path alone (references already hashed), then the whole submit of the files (another prefix).
  const producer = new Producer(loadProducerConfig({}, env));
  const opts = { tasks: ['summarize' as const], params: { maxTokens: 16 } };
  const r0 = performance.now();
  const fromRefs = await producer.submitDocuments(refs, opts);
  const enqueueRefsMs = performance.now() - r0;
  if (fromRefs.jobs !== input.jobs) throw new Error(`submitDocuments created ${fromRefs.jobs} jobs, expected ${input.jobs}`);
  const filesProducer = new Producer(loadProducerConfig({}, { ...env, DOCFLEET_PREFIX: `${input.prefix}-files` }));
  const t0 = performance.now();
  const submitted = await filesProducer.submit([input.docsDir!], opts);
  const enqueueMs = performance.now() - t0;
  await filesProducer.close();
  if (submitted.jobs !== input.jobs) throw new Error(`submit created ${submitted.jobs} jobs, expected ${input.jobs}`);

  let processed = 0;
  let allDone!: () => void;
  const finished = new Promise<void>((resolve) => (allDone = resolve));
  const commands = await redisCounter(input.redisUrl);
  const t1 = performance.now();
  const redis = connectRedis(input.redisUrl);
  const lockMs = 30_000;
  const queues = input.singleQueue ? [queueName('generate', 'any')] : queuesServedBy('generate', 'cpu');
  const consumers = queues.map(
    (queue) =>
      new QueueConsumer(queue, async () => ({ stored: true }), {
        connection: redis,
        prefix: input.prefix,
        name: `${os.hostname()}:${process.pid}`,
        lockDuration: lockMs,
        stalledInterval: Math.max(1_000, Math.round(lockMs / 2)),
        maxStalledCount: 2,
        drainDelay: 5,
      }),
  );
  for (const consumer of consumers) {
    consumer.on('completed', () => ++processed === input.jobs && allDone());
    consumer.on('error', () => {});
    await consumer.waitUntilReady();
    await consumer.startBackground();
  }
  const scheduler = new SlotScheduler(consumers, input.concurrency, () => {}, { connection: redis });
  scheduler.start();
  await finished;
  const processMs = performance.now() - t1;
  const redisCommandsPerJob = round((await commands()) / input.jobs, 2);
  await scheduler.stop(0);
  await Promise.all(consumers.map((c) => c.close(true)));
  redis.disconnect();
  await producer.close();
  return { jobs: input.jobs, concurrency: input.concurrency, enqueueMs, enqueueRefsMs, walkMs, processMs, processed, redisCommandsPerJob };
}

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
async function embedScenario(input: EmbedInput): Promise<EmbedRun> {
  const { llama, model, tuning } = await loadTuned(input, 'embed');
  const contexts = input.contexts === 'auto' ? Math.min(input.jobsAtOnce, Math.max(1, Math.floor(tuning.budget.cpus / tuning.threads))) : input.contexts;
  const pool = await EmbeddingPool.create(model, { contexts, contextSize: input.contextSize, threads: tuning.threads });
  const env = { pool, dimensions: model.embeddingVectorSize };
  const docs = await Promise.all(input.files.map(async (file) => ({ text: await readFile(file, 'utf8'), pageStarts: [0] })));
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
  const result = { contexts: pool.size, threads: tuning.threads, jobsAtOnce: input.jobsAtOnce, docs: docs.length, chunks, tokens, wallMs: Math.round(wallMs), tokensPerSecond: round((tokens * 1000) / wallMs) };
  await llama.dispose();
  return result;
}

const scenarios: Record<string, (input: never) => Promise<unknown>> = {
  ceiling,
  naive,
  'queue-raw': queueRaw,
  'queue-docfleet': queueDocfleet,
  embed: embedScenario,
};

const [scenario, json] = process.argv.slice(2);
const run = scenarios[scenario ?? ''];
if (!run || !json) {
  process.stderr.write(`usage: child.js <${Object.keys(scenarios).join('|')}> <input-json>\n`);
  process.exit(2);
}
run(JSON.parse(json) as never).then(
  (result) => {
    process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`, () => process.exit(0));
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
