import type { Redis } from 'ioredis';
import type { FailureCategory } from './errors.js';
import { BatchStore, type BatchMeta } from './batch-store.js';
import type { EmbedOutput, JobData, JobResult } from './job-types.js';
import { StoreKeys } from './store-keys.js';

export type ResultStatus = 'completed' | 'failed' | 'cancelled';

export interface JobFailure {
  category: FailureCategory;
  message: string;
  attempts: number;
}

/** What the store keeps for one job once it has finished, for good or ill. */
export interface StoredResult {
  jobId: string;
  status: ResultStatus;
  job: JobData;
  result?: JobResult;
  error?: JobFailure;
  finishedAt: number;
}

/**
 * Writes a job's outcome and moves the counters of every batch that covers the job, atomically: a status
 * read, a result written and counters moved can never disagree. An outcome replacing an earlier one (a retry)
 * moves the count from the old status to the new, and leaves none of the old outcome's fields behind (a
 * retried job must not keep an earlier attempt's error beside its result).
 * KEYS: result, job-batches. ARGV: status, ttl, batch key prefix, 'keep' to leave an outcome already there
 * alone (else 'replace'), then the result's field/value pairs. Returns 0 when it kept an outcome, else 1.
 */
const RECORD_OUTCOME = `
local old = redis.call('HGET', KEYS[1], 'status')
if old and ARGV[4] == 'keep' then return 0 end
local earlier = redis.call('HKEYS', KEYS[1])
-- HSET is the first write: a Redis out of memory refuses it before anything has changed.
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
local fields = {}
for i = 5, #ARGV, 2 do fields[ARGV[i]] = true end
for _, field in ipairs(earlier) do
  if not fields[field] then redis.call('HDEL', KEYS[1], field) end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
local covering = redis.call('HGETALL', KEYS[2])
for i = 1, #covering, 2 do
  local batch = ARGV[3] .. covering[i]
  if redis.call('EXISTS', batch) == 1 then
    if old then redis.call('HINCRBY', batch, old, -covering[i + 1]) end
    redis.call('HINCRBY', batch, ARGV[1], covering[i + 1])
  end
end
return 1
`;

/**
 * Drops a job's outcome (before a retry) and takes it off the counters of the batches that cover the job; the
 * counters first, so that a Redis out of memory refuses the script before it has deleted anything.
 * KEYS: result, job-batches. ARGV: batch key prefix.
 */
const FORGET_OUTCOME = `
local old = redis.call('HGET', KEYS[1], 'status')
if not old then return 0 end
local covering = redis.call('HGETALL', KEYS[2])
for i = 1, #covering, 2 do
  local batch = ARGV[1] .. covering[i]
  if redis.call('EXISTS', batch) == 1 then redis.call('HINCRBY', batch, old, -covering[i + 1]) end
end
redis.call('DEL', KEYS[1])
return 1
`;

/**
 * Results live in Redis under `{prefix}:result:{jobId}`, apart from BullMQ's job hashes, so they outlive
 * BullMQ's retention and any worker. A job is done once however many documents and batches ask for it; the
 * batches (BatchStore) record their documents and which jobs answer them. Embedding vectors are stored as raw
 * little-endian Float32 (4 bytes per dimension), not as JSON text.
 */
export class ResultStore {
  readonly keys: StoreKeys;
  readonly batches: BatchStore;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly ttlSeconds: number,
  ) {
    this.keys = new StoreKeys(prefix);
    this.batches = new BatchStore(redis, this.keys, ttlSeconds);
  }

  /** The Redis key of a job's stored result (every stored result has a status; its key exists iff it does). */
  resultKeyOf(jobId: string): string {
    return this.keys.result(jobId);
  }

  /** The batch's description (the worker asks whether it was cancelled). */
  batch(id: string): Promise<BatchMeta | undefined> {
    return this.batches.meta(id);
  }

  async saveCompleted(jobId: string, job: JobData, result: JobResult): Promise<void> {
    const fields: Record<string, string | Buffer> = { ...this.common(jobId, 'completed', job) };
    if (result.task === 'embed') {
      const { json, vectors } = encodeEmbeddings(result);
      fields.result = json;
      fields.vectors = vectors;
    } else {
      fields.result = JSON.stringify(result);
    }
    await this.recordOutcome(jobId, 'completed', fields);
  }

  async saveFailed(jobId: string, job: JobData, error: JobFailure): Promise<void> {
    await this.recordOutcome(jobId, 'failed', { ...this.common(jobId, 'failed', job), error: JSON.stringify(error) });
  }

  /**
   * With `unfinished`, only a job that has no outcome yet is recorded as cancelled (a cancel racing the job's
   * end leaves the real outcome); returns whether it was recorded.
   */
  async saveCancelled(jobId: string, job: JobData, opts: { unfinished?: boolean } = {}): Promise<boolean> {
    return this.recordOutcome(jobId, 'cancelled', this.common(jobId, 'cancelled', job), opts.unfinished);
  }

  /**
   * The one write of a job's outcome: the result hash replaced and the counters of each batch covering the job
   * moved with it, atomically (a Redis out of memory refuses all of it).
   */
  async recordOutcome(
    jobId: string,
    status: ResultStatus,
    fields: Record<string, string | Buffer>,
    keepFinished = false,
  ): Promise<boolean> {
    const written = await this.redis.eval(
      RECORD_OUTCOME,
      2,
      this.keys.result(jobId),
      this.keys.jobBatches(jobId),
      status,
      this.ttlSeconds,
      this.keys.batch(''),
      keepFinished ? 'keep' : 'replace',
      ...Object.entries(fields).flat(),
    );
    return written === 1;
  }

  /** Status of each job that has finished; undefined for jobs still queued or running. */
  async statuses(jobIds: string[]): Promise<(ResultStatus | undefined)[]> {
    const pipe = this.redis.pipeline();
    for (const id of jobIds) pipe.hget(this.keys.result(id), 'status');
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([, v]) => (v ?? undefined) as ResultStatus | undefined);
  }

  async get(jobIds: string[]): Promise<(StoredResult | undefined)[]> {
    const pipe = this.redis.pipeline();
    for (const id of jobIds) pipe.hgetallBuffer(this.keys.result(id));
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([, raw], i) => decode(jobIds[i]!, raw as Record<string, Buffer> | null));
  }

  /** As {@link get}, without embedding vectors: for listings, which show a job's outcome and not its vectors. */
  async outcomes(jobIds: string[]): Promise<(StoredResult | undefined)[]> {
    const fields = ['status', 'job', 'result', 'error', 'finishedAt'];
    const pipe = this.redis.pipeline();
    for (const id of jobIds) pipe.hmgetBuffer(this.keys.result(id), ...fields);
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([, values], i) => {
      const present = fields.flatMap((f, j) =>
        (values as (Buffer | null)[])[j] ? [[f, (values as Buffer[])[j]!]] : [],
      );
      return decode(jobIds[i]!, Object.fromEntries(present) as Record<string, Buffer>);
    });
  }

  /** Drops the outcomes (a retry), taking them off their batches' counters. */
  async remove(jobIds: string[]): Promise<void> {
    await Promise.all(
      jobIds.map((id) =>
        this.redis.eval(FORGET_OUTCOME, 2, this.keys.result(id), this.keys.jobBatches(id), this.keys.batch('')),
      ),
    );
  }

  /** Bytes Redis spends on one stored result (for the README's sizing figures). */
  async memoryUsage(jobId: string): Promise<number> {
    return Number((await this.redis.call('MEMORY', 'USAGE', this.keys.result(jobId), 'SAMPLES', '0')) ?? 0);
  }

  private common(jobId: string, status: ResultStatus, job: JobData) {
    return { jobId, status, job: JSON.stringify(job), finishedAt: String(Date.now()) };
  }
}

function encodeEmbeddings(result: JobResult & { task: 'embed' }): { json: string; vectors: Buffer } {
  const output = result.output;
  const vectors = Buffer.alloc(output.chunks.length * output.dimensions * 4);
  output.chunks.forEach((chunk, i) => {
    for (let d = 0; d < output.dimensions; d++)
      vectors.writeFloatLE(chunk.vector[d] ?? 0, (i * output.dimensions + d) * 4);
  });
  const chunks = output.chunks.map(({ start, end, page, pageStart, pageEnd }) => ({
    start,
    end,
    page,
    pageStart,
    pageEnd,
  }));
  return { json: JSON.stringify({ ...result, output: { ...output, chunks } }), vectors };
}

function decode(jobId: string, raw: Record<string, Buffer> | null): StoredResult | undefined {
  if (!raw || !raw.status) return undefined;
  const text = (field: string) => raw[field]?.toString('utf8');
  const stored: StoredResult = {
    jobId,
    status: text('status') as ResultStatus,
    job: parseStored('job', text('job') ?? '{}'),
    finishedAt: Number(text('finishedAt')),
  };
  if (raw.error) stored.error = parseStored('error', text('error')!);
  if (raw.result) {
    const result = parseStored('result', text('result')!);
    if (result.task === 'embed' && raw.vectors) decodeEmbeddings(result.output, raw.vectors);
    stored.result = result;
  }
  return stored;
}

/** The fields of a stored outcome that hold JSON, and the types they were written from. */
interface StoredJson {
  job: JobData;
  result: JobResult;
  error: JobFailure;
}

/**
 * A field of a stored outcome, as this store wrote it: only `ResultStore` writes these keys, with JSON.stringify
 * of the same types, so the parse is typed rather than validated (`results` reads thousands of outcomes).
 */
function parseStored<F extends keyof StoredJson>(field: F, json: string): StoredJson[F] {
  return JSON.parse(json) as StoredJson[F];
}

function decodeEmbeddings(output: EmbedOutput, vectors: Buffer): void {
  const dims = output.dimensions;
  output.chunks.forEach((chunk, i) => {
    const v = new Float32Array(dims);
    for (let d = 0; d < dims; d++) v[d] = vectors.readFloatLE((i * dims + d) * 4);
    chunk.vector = v;
  });
}
