import type { Redis } from 'ioredis';
import type { DocumentRef, Tag, TaskName, TaskParams } from './job-types.js';
import type { StoreKeys } from './store-keys.js';

/** What a submission was, as `docfleet batches` lists it and as `results` needs it to name each job. */
export interface BatchMeta {
  id: string;
  /** `submit --name`: a label for people; ids stay the handle. */
  name?: string;
  createdAt: number;
  tasks: TaskName[];
  tag: Tag;
  /** The task parameters: with a document's sha256 they give its job ids. */
  params: TaskParams;
  /** The first few inputs named at submit, and how many there were. */
  inputs: { first: string[]; count: number };
  /** Documents recorded (each submitted file, duplicates included). */
  documents: number;
  /** Jobs this submission created, and ones it found already queued or done. */
  jobs: number;
  duplicates: number;
  refused: number;
  cancelled: boolean;
  /** True until the submission has recorded every document. */
  submitting: boolean;
  /**
   * The absolute paths of the directories (and single files) the batch was submitted from: its files must lie
   * under one of them (links resolved by the worker) as well as under a root of the worker. Absent when the
   * submitter named none.
   */
  roots?: string[];
}

/** Kept as jobs end: one line per document and task, and how many of them have finished, and how. */
export interface BatchCounts {
  lines: number;
  completed: number;
  failed: number;
  cancelled: number;
}

export interface BatchSummary {
  meta: BatchMeta;
  counts: BatchCounts;
}

/**
 * Records each document of a batch and registers every job with the batches it answers for (`jobBatches`), in
 * one script per page, so that a job's outcome advances the counters of each batch that covers it (see
 * ResultStore.recordOutcome). A job already finished when a batch registers it counts at once. Registering
 * and recording are both scripts, so a job finishing during a submission is counted exactly once.
 *
 * KEYS: batch hash, document list. ARGV: batch id, ttl, job-batches key prefix, result key prefix, number of
 * documents n, the n documents' JSON, then one job id per line (repeated when a job answers several lines).
 */
const ADD_LINES = `
local docs = tonumber(ARGV[5])
if docs > 0 then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 6, 5 + docs))
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
local lines = 0
for i = 6 + docs, #ARGV do
  local covering = ARGV[3] .. ARGV[i]
  redis.call('HINCRBY', covering, ARGV[1], 1)
  redis.call('EXPIRE', covering, ARGV[2])
  local status = redis.call('HGET', ARGV[4] .. ARGV[i], 'status')
  if status then redis.call('HINCRBY', KEYS[1], status, 1) end
  lines = lines + 1
end
redis.call('HINCRBY', KEYS[1], 'lines', lines)
return lines
`;

/**
 * Undoes ADD_LINES for some jobs: the batch no longer covers them. Returns the ids of the jobs that no batch
 * covers any more and that have no stored outcome (queued work nobody asked for).
 * KEYS: none. ARGV: batch id, job-batches key prefix, result key prefix, job ids.
 */
const REMOVE_LINES = `
local orphans = {}
for i = 4, #ARGV do
  local covering = ARGV[2] .. ARGV[i]
  redis.call('HDEL', covering, ARGV[1])
  if redis.call('EXISTS', covering) == 0 and redis.call('EXISTS', ARGV[3] .. ARGV[i]) == 0 then
    orphans[#orphans + 1] = ARGV[i]
  end
end
return orphans
`;

/** Documents per page when walking a batch. */
const BATCH_PAGE = 500;

/**
 * A batch in Redis: a hash (description and counters), the list of its documents, and its place in the index
 * of recent batches. Everything about a batch is read a page or a key at a time; nothing scans keys.
 */
export class BatchStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
    private readonly ttlSeconds: number,
  ) {}

  /** Creates the batch and lists it in the index; index entries older than the batches' lifetime go. */
  async create(meta: BatchMeta): Promise<void> {
    const index = this.keys.batchIndex();
    await this.redis
      .multi()
      .hset(this.keys.batch(meta.id), 'meta', JSON.stringify(meta), 'lines', 0)
      .expire(this.keys.batch(meta.id), this.ttlSeconds)
      .zadd(index, meta.createdAt, meta.id)
      .zremrangebyscore(index, '-inf', meta.createdAt - this.ttlSeconds * 1000)
      .expire(index, this.ttlSeconds)
      .exec();
  }

  /** Rewrites the description, leaving the counters alone (workers update them meanwhile). */
  async update(meta: BatchMeta): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.batch(meta.id), 'meta', JSON.stringify(meta))
      .expire(this.keys.batch(meta.id), this.ttlSeconds)
      .expire(this.keys.batchDocuments(meta.id), this.ttlSeconds)
      .exec();
  }

  async meta(id: string): Promise<BatchMeta | undefined> {
    const raw = await this.redis.hget(this.keys.batch(id), 'meta').catch(unlessOlderFormat);
    return raw ? (JSON.parse(raw) as BatchMeta) : undefined;
  }

  /** The description and counters in one read, whatever the batch's size. */
  async summary(id: string): Promise<BatchSummary | undefined> {
    return toSummary(await this.redis.hgetall(this.keys.batch(id)).catch(unlessOlderFormat));
  }

  /** The most recent batches, newest first, from the index (no key scan); `offset` skips the newest ones. */
  async recent(limit: number, offset = 0): Promise<BatchSummary[]> {
    const ids = await this.redis.zrevrange(this.keys.batchIndex(), offset, offset + limit - 1);
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.keys.batch(id));
    const replies = (await pipe.exec()) ?? [];
    return replies.flatMap(([, raw]) => toSummary(raw as Record<string, string>) ?? []);
  }

  /** How many batches the index lists (some may have expired since). */
  indexSize(): Promise<number> {
    return this.redis.zcard(this.keys.batchIndex());
  }

  /** `count` of the batch's documents from the `start`th, in submission order, and how many it has in all. */
  async documentPage(id: string, start: number, count: number): Promise<{ documents: DocumentRef[]; total: number }> {
    const key = this.keys.batchDocuments(id);
    const [[, page], [, total]] = (await this.redis
      .multi()
      .lrange(key, start, start + count - 1)
      .llen(key)
      .exec()) as [[Error | null, string[]], [Error | null, number]];
    return { documents: page.map((d) => JSON.parse(d) as DocumentRef), total };
  }

  /** Records documents and the job of each of their lines (one job id per line, in order). */
  async addLines(id: string, documents: DocumentRef[], lineJobIds: string[]): Promise<void> {
    await this.redis.eval(
      ADD_LINES,
      2,
      this.keys.batch(id),
      this.keys.batchDocuments(id),
      id,
      this.ttlSeconds,
      this.keys.jobBatches(''),
      this.keys.result(''),
      documents.length,
      ...documents.map((d) => JSON.stringify(d)),
      ...lineJobIds,
    );
  }

  /** Unregisters the batch from these jobs; returns the jobs left queued for nobody. */
  async removeLines(id: string, jobIds: string[]): Promise<string[]> {
    if (jobIds.length === 0) return [];
    const reply = await this.redis.eval(REMOVE_LINES, 0, id, this.keys.jobBatches(''), this.keys.result(''), ...jobIds);
    return reply as string[];
  }

  /** The batch's documents a page at a time, in submission order, or the newest first. */
  async *documents(id: string, opts: { newestFirst?: boolean } = {}): AsyncGenerator<DocumentRef[]> {
    const key = this.keys.batchDocuments(id);
    for (let start = 0; ; start += BATCH_PAGE) {
      const page = opts.newestFirst
        ? (await this.redis.lrange(key, -start - BATCH_PAGE, -start - 1)).reverse()
        : await this.redis.lrange(key, start, start + BATCH_PAGE - 1);
      if (page.length > 0) yield page.map((d) => JSON.parse(d) as DocumentRef);
      if (page.length < BATCH_PAGE) return;
    }
  }

  /** How many batches cover the job (a cancel leaves shared jobs to the other batches). */
  async coverage(jobIds: string[]): Promise<number[]> {
    const pipe = this.redis.pipeline();
    for (const jobId of jobIds) pipe.hlen(this.keys.jobBatches(jobId));
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([, n]) => Number(n));
  }

  /** Forgets the batch: its description, documents and index entry (jobs are unregistered first). */
  async delete(id: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.batch(id), this.keys.batchDocuments(id))
      .zrem(this.keys.batchIndex(), id)
      .exec();
  }
}

/**
 * A batch written by a docfleet that kept it as one JSON string reads as no batch: its jobs still run (their
 * workers find no cancel), and `status` says it cannot be found rather than failing on the key's type.
 */
function unlessOlderFormat(err: unknown): null {
  if (err instanceof Error && err.message.startsWith('WRONGTYPE')) return null;
  throw err;
}

function toSummary(raw: Record<string, string> | null): BatchSummary | undefined {
  if (!raw?.meta) return undefined;
  const count = (field: string) => Number(raw[field] ?? 0);
  return {
    meta: JSON.parse(raw.meta) as BatchMeta,
    counts: {
      lines: count('lines'),
      completed: count('completed'),
      failed: count('failed'),
      cancelled: count('cancelled'),
    },
  };
}
