import os from 'node:os';
import { Queue, Worker } from 'bullmq';
import { MiB, loadProducerConfig } from '../../../dist/shared/config.js';
import { jobIdFor } from '../../../dist/shared/job-id.js';
import type { DocumentRef } from '../../../dist/shared/job-types.js';
import { queueName, queuesServedBy } from '../../../dist/shared/queue-layout.js';
import { RedisConnection } from '../../../dist/shared/redis-connection.js';
import { walkDocuments } from '../../../dist/producer/document-walker.js';
import { DocumentAccess } from '../../../dist/shared/access/document-access.js';
import { documentJobOptions, FINISHED_JOB_RETENTION } from '../../../dist/shared/job-options.js';
import { Producer } from '../../../dist/producer/producer.js';
import { QueueConsumer } from '../../../dist/worker/queue/queue-consumer.js';
import { SlotScheduler } from '../../../dist/worker/queue/slot-scheduler.js';
import { round } from '../common.js';

/** A connection as the workers make one. */
function connectRedis(url: string) {
  return new RedisConnection(loadProducerConfig({ REDIS_URL: url }), 'service').client;
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
 * Processing runs first put this many jobs through the same path on a prefix of their own, untimed: a run of
 * a few thousand jobs is over in a second, and V8 compiling the code on the way would otherwise be measured.
 */
const WARMUP_JOBS = 1_000;
const RAW_QUEUE = 'raw-noop';
const SUBMIT_OPTIONS = { tasks: ['summarize' as const], params: { maxTokens: 16 } };

export interface EnqueueInput {
  redisUrl: string;
  /** A directory of `jobs` distinct small text documents. */
  docsDir: string;
  jobs: number;
  rounds: number;
}

export interface EnqueueRun {
  /** Walking and hashing the documents alone, ms: a bound on Producer.submit that addBulk does not have. */
  walkMs: number;
  /** Per round, ms to enqueue every job by each path. */
  rounds: { raw: number; rawOptions: number; docfleetRefs: number; docfleetFiles: number }[];
}

/**
 * Enqueueing, every path in one process, alternated round by round so that each round's paths see the
 * machine alike: plain Queue.addBulk with BullMQ's defaults and with docfleet's job options,
 * Producer.submitDocuments of already hashed references (docfleet's queue path alone) and Producer.submit
 * of the files (walking, reading and hashing them included). A first round is run untimed, so V8 has
 * compiled the code; Redis is emptied after every path.
 */
export async function queueEnqueue(input: EnqueueInput): Promise<EnqueueRun> {
  const redis = connectRedis(input.redisUrl);
  const w0 = performance.now();
  const refs: DocumentRef[] = [];
  for await (const item of walkDocuments([input.docsDir], 50 * MiB, await DocumentAccess.create()))
    if ('ref' in item) refs.push(item.ref);
  const walkMs = performance.now() - w0;
  if (refs.length !== input.jobs)
    throw new Error(`expected ${input.jobs} documents in ${input.docsDir}, found ${refs.length}`);
  let n = 0;
  const timed = async (run: (prefix: string) => Promise<void>) => {
    const t0 = performance.now();
    await run(`enqueue${++n}`);
    const ms = performance.now() - t0;
    await redis.flushall();
    return ms;
  };
  const viaProducer = (submit: (p: Producer) => Promise<{ jobs: number }>) => async (prefix: string) => {
    const producer = producerAt(input.redisUrl, prefix);
    const { jobs } = await submit(producer);
    await producer.close();
    if (jobs !== input.jobs) throw new Error(`created ${jobs} jobs, expected ${input.jobs}`);
  };
  const rounds: EnqueueRun['rounds'] = [];
  for (let r = 0; r <= input.rounds; r++) {
    const round = {
      raw: await timed((prefix) => addRaw(input.redisUrl, prefix, refs, false)),
      rawOptions: await timed((prefix) => addRaw(input.redisUrl, prefix, refs, true)),
      docfleetRefs: await timed(viaProducer((p) => p.submitDocuments(refs, SUBMIT_OPTIONS))),
      docfleetFiles: await timed(viaProducer((p) => p.submit([input.docsDir], SUBMIT_OPTIONS))),
    };
    if (r > 0) rounds.push(round);
  }
  redis.disconnect();
  return { walkMs, rounds };
}

/** Plain BullMQ: the jobs docfleet would create for `refs`, added with Queue.addBulk in chunks. */
async function addRaw(redisUrl: string, prefix: string, refs: DocumentRef[], withOptions: boolean): Promise<void> {
  const connection = connectRedis(redisUrl);
  const queue = new Queue(RAW_QUEUE, { connection, prefix });
  // The data of a docfleet job, so both sides move the same bytes.
  const job = (doc: DocumentRef) => {
    const data = { batchId: '20250101-0123456789', doc, task: 'summarize' as const, params: { maxTokens: 16 } };
    return {
      name: 'summarize',
      data,
      opts: withOptions ? documentJobOptions(jobIdFor(doc.sha256, data.task, data.params), 3) : undefined,
    };
  };
  for (let from = 0; from < refs.length; from += ADD_CHUNK)
    await queue.addBulk(refs.slice(from, from + ADD_CHUNK).map(job));
  await queue.close();
  connection.disconnect();
}

export type ProcessVariant = 'raw' | 'rawOptions' | 'docfleet' | 'docfleetOneQueue';

export interface ProcessInput {
  redisUrl: string;
  prefix: string;
  jobs: number;
  concurrency: number;
  /**
   * `raw`: a plain BullMQ Worker; `rawOptions`: the same with docfleet's job options and retention;
   * `docfleet`: the worker's QueueConsumers (tag queue and `any`) under the SlotScheduler;
   * `docfleetOneQueue`: the same serving only `any` (a diagnostic).
   */
  variant: ProcessVariant;
}

export interface ProcessRun {
  processMs: number;
  /** Redis commands (those inside BullMQ's scripts included) per job while processing. */
  redisCommandsPerJob: number;
}

/**
 * Processing no-op jobs: the jobs are enqueued untimed, then processed at `concurrency` and timed. Before
 * that, WARMUP_JOBS go through the same path untimed on a prefix of their own, so V8 has compiled the code.
 */
export async function queueProcess(input: ProcessInput): Promise<ProcessRun> {
  await processPass({ ...input, prefix: `${input.prefix}-warm`, jobs: Math.min(WARMUP_JOBS, input.jobs) });
  return processPass(input);
}

async function processPass(input: ProcessInput): Promise<ProcessRun> {
  const refs = Array.from({ length: input.jobs }, (_, i) => ({
    uri: `/tmp/bench/docs/doc-${String(i).padStart(5, '0')}.txt`,
    name: `doc-${i}.txt`,
    sha256: i.toString(16).padStart(64, '0'),
    bytes: 300,
  }));
  const raw = input.variant === 'raw' || input.variant === 'rawOptions';
  if (raw) {
    await addRaw(input.redisUrl, input.prefix, refs, input.variant === 'rawOptions');
  } else {
    const producer = producerAt(input.redisUrl, input.prefix);
    await producer.submitDocuments(refs, SUBMIT_OPTIONS);
    await producer.close();
  }
  const commands = await redisCounter(input.redisUrl);
  const processMs = raw ? await drainRaw(input) : await drain(input);
  return { processMs, redisCommandsPerJob: round((await commands()) / input.jobs, 2) };
}

/** A plain BullMQ Worker with a no-op processor until every job is done; resolves with the time it took, ms. */
async function drainRaw(input: ProcessInput): Promise<number> {
  const t0 = performance.now();
  const connection = connectRedis(input.redisUrl);
  // Retention is a worker setting in docfleet (FINISHED_JOB_RETENTION), so "the same options" include it.
  const retention = input.variant === 'rawOptions' ? FINISHED_JOB_RETENTION : {};
  const worker = new Worker(RAW_QUEUE, () => Promise.resolve({}), {
    connection,
    prefix: input.prefix,
    concurrency: input.concurrency,
    ...retention,
  });
  await allCompleted([worker], input.jobs);
  const ms = performance.now() - t0;
  await worker.close();
  connection.disconnect();
  return ms;
}

/** Processes the waiting jobs as a worker does; resolves with the time it took, ms. */
async function drain(input: ProcessInput): Promise<number> {
  const t0 = performance.now();
  const redis = connectRedis(input.redisUrl);
  const lockMs = 30_000;
  const queues =
    input.variant === 'docfleetOneQueue' ? [queueName('generate', 'any')] : queuesServedBy('generate', 'cpu');
  const consumers = queues.map(
    (queue) =>
      new QueueConsumer(queue, () => Promise.resolve({ stored: true }), {
        connection: redis,
        prefix: input.prefix,
        name: `${os.hostname()}:${process.pid}`,
        lockDuration: lockMs,
        stalledInterval: Math.max(1_000, Math.round(lockMs / 2)),
        maxStalledCount: 2,
        drainDelay: 5,
      }),
  );
  const completed = allCompleted(consumers, input.jobs);
  for (const consumer of consumers) {
    consumer.on('error', () => {});
    await consumer.waitUntilReady();
    await consumer.startBackground();
  }
  const scheduler = new SlotScheduler(consumers, input.concurrency, () => {}, { connection: redis });
  scheduler.start();
  await completed;
  const ms = performance.now() - t0;
  await scheduler.stop(0);
  await Promise.all(consumers.map((c) => c.close(true)));
  redis.disconnect();
  return ms;
}

/** Resolves once the workers together have completed `jobs` jobs. */
function allCompleted(workers: Worker[], jobs: number): Promise<void> {
  let completed = 0;
  return new Promise((resolve) => {
    for (const w of workers) w.on('completed', () => ++completed === jobs && resolve());
  });
}

function producerAt(redisUrl: string, prefix: string): Producer {
  return new Producer(loadProducerConfig({ REDIS_URL: redisUrl, DOCFLEET_PREFIX: prefix }));
}
