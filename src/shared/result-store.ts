import type { Redis } from 'ioredis';
import type { FailureCategory } from './errors.js';
import type { EmbedOutput, JobData, JobResult, Tag, TaskName } from './job-types.js';

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

export interface BatchMeta {
  id: string;
  createdAt: number;
  tasks: TaskName[];
  tag: Tag;
  /** Jobs this submission created, and ones it found already queued or done. */
  jobs: number;
  duplicates: number;
  refused: number;
  cancelled: boolean;
  /**
   * The absolute paths of the directories (and single files) the batch was submitted from: its files must lie
   * under one of them (links resolved by the worker) as well as under a root of the worker. Absent when the
   * submitter named none.
   */
  roots?: string[];
}

export interface BatchEntry {
  jobId: string;
  queue: string;
}

/**
 * Results live in Redis under `{prefix}:result:{jobId}`, apart from BullMQ's job hashes, so they
 * outlive BullMQ's retention and any worker. A batch is a hash of its job ids (→ queue), so a
 * document submitted again joins the new batch without a second job. Embedding vectors are stored
 * as raw little-endian Float32 (4 bytes per dimension), not as JSON text.
 */
export class ResultStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  private batchKey(id: string) {
    return `${this.prefix}:batch:${id}`;
  }
  private batchJobsKey(id: string) {
    return `${this.prefix}:batch:${id}:jobs`;
  }
  private resultKey(jobId: string) {
    return `${this.prefix}:result:${jobId}`;
  }

  /** The Redis key of a job's stored result (every stored result has a status; its key exists iff it does). */
  resultKeyOf(jobId: string): string {
    return this.resultKey(jobId);
  }

  async saveBatch(meta: BatchMeta): Promise<void> {
    await this.redis
      .multi()
      .set(this.batchKey(meta.id), JSON.stringify(meta), 'EX', this.ttlSeconds)
      .expire(this.batchJobsKey(meta.id), this.ttlSeconds)
      .exec();
  }

  async batch(id: string): Promise<BatchMeta | undefined> {
    const raw = await this.redis.get(this.batchKey(id));
    return raw ? (JSON.parse(raw) as BatchMeta) : undefined;
  }

  async addToBatch(id: string, entries: BatchEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const pairs = entries.flatMap((e) => [e.jobId, e.queue]);
    await this.redis
      .multi()
      .hset(this.batchJobsKey(id), ...pairs)
      .expire(this.batchJobsKey(id), this.ttlSeconds)
      .exec();
  }

  async batchSize(id: string): Promise<number> {
    return this.redis.hlen(this.batchJobsKey(id));
  }

  /** The batch's jobs a page at a time, so memory does not grow with the batch. */
  async *batchEntries(id: string, pageSize = 500): AsyncGenerator<BatchEntry[]> {
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(this.batchJobsKey(id), cursor, 'COUNT', pageSize);
      cursor = next;
      const page: BatchEntry[] = [];
      for (let i = 0; i < flat.length; i += 2) page.push({ jobId: flat[i]!, queue: flat[i + 1]! });
      if (page.length > 0) yield page;
    } while (cursor !== '0');
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
    await this.write(jobId, fields);
  }

  async saveFailed(jobId: string, job: JobData, error: JobFailure): Promise<void> {
    await this.write(jobId, { ...this.common(jobId, 'failed', job), error: JSON.stringify(error) });
  }

  async saveCancelled(jobId: string, job: JobData): Promise<void> {
    await this.write(jobId, this.common(jobId, 'cancelled', job));
  }

  /** Status of each job that has finished; undefined for jobs still queued or running. */
  async statuses(jobIds: string[]): Promise<(ResultStatus | undefined)[]> {
    const pipe = this.redis.pipeline();
    for (const id of jobIds) pipe.hget(this.resultKey(id), 'status');
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([, v]) => (v ?? undefined) as ResultStatus | undefined);
  }

  async get(jobIds: string[]): Promise<(StoredResult | undefined)[]> {
    const pipe = this.redis.pipeline();
    for (const id of jobIds) pipe.hgetallBuffer(this.resultKey(id));
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([, raw], i) => decode(jobIds[i]!, raw as Record<string, Buffer> | null));
  }

  async remove(jobIds: string[]): Promise<void> {
    if (jobIds.length > 0) await this.redis.del(...jobIds.map((id) => this.resultKey(id)));
  }

  /** Bytes Redis spends on one stored result (for the README's sizing figures). */
  async memoryUsage(jobId: string): Promise<number> {
    return Number((await this.redis.call('MEMORY', 'USAGE', this.resultKey(jobId), 'SAMPLES', '0')) ?? 0);
  }

  private common(jobId: string, status: ResultStatus, job: JobData) {
    return { jobId, status, job: JSON.stringify(job), finishedAt: String(Date.now()) };
  }

  private async write(jobId: string, fields: Record<string, string | Buffer>): Promise<void> {
    const key = this.resultKey(jobId);
    // Replace, never merge: a retried job must not keep an earlier attempt's error beside its result.
    await this.redis.multi().del(key).hset(key, fields).expire(key, this.ttlSeconds).exec();
  }
}

function encodeEmbeddings(result: JobResult): { json: string; vectors: Buffer } {
  const output = result.output as EmbedOutput;
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
    job: JSON.parse(text('job') ?? '{}') as JobData,
    finishedAt: Number(text('finishedAt')),
  };
  if (raw.error) stored.error = JSON.parse(text('error')!) as JobFailure;
  if (raw.result) {
    const result = JSON.parse(text('result')!) as JobResult;
    if (result.task === 'embed' && raw.vectors) decodeEmbeddings(result.output as EmbedOutput, raw.vectors);
    stored.result = result;
  }
  return stored;
}

function decodeEmbeddings(output: EmbedOutput, vectors: Buffer): void {
  const dims = output.dimensions;
  output.chunks.forEach((chunk, i) => {
    const v = new Float32Array(dims);
    for (let d = 0; d < dims; d++) v[d] = vectors.readFloatLE((i * dims + d) * 4);
    chunk.vector = v;
  });
}
