import type { Redis } from 'ioredis';
import type { StoreKeys } from './store-keys.js';

/** What a worker tells the fleet about itself every heartbeat. */
export interface WorkerBeat {
  /** `host:pid`, as the worker shows in BullMQ's client list. */
  id: string;
  hostname: string;
  pid: number;
  /** The GGUF file name without `.gguf`. */
  model: string;
  device: 'cpu' | 'gpu';
  tag: 'cpu' | 'gpu';
  role: 'generate' | 'embed';
  queues: string[];
  /** Sequences running a job now, and how many the worker has. */
  busy: number;
  sequences: number;
  /** Tokens read and generated per second by the jobs that finished since the previous beat. */
  tokensPerSecond: number;
  /** Documents and flow parts this worker has finished (completed or failed) since it started. */
  jobsDone: number;
  /** Epoch ms. */
  startedAt: number;
  beatAt: number;
  /** How often the worker beats, ms; its entry lives {@link BEATS_TO_LIVE} times that long. */
  intervalMs: number;
  version: string;
}

/** A worker's entry outlives this many missed beats. */
export const BEATS_TO_LIVE = 3;

/**
 * The workers whose last heartbeat has not expired, latest first. The index holds each worker by the time its entry
 * expires (its last beat plus its time to live, which each worker sets from its own interval), so expired entries,
 * those of workers that died without removing theirs, are pruned in the same call that lists the rest; then one key
 * per worker is read. Nothing scans the keyspace.
 */
export async function liveWorkers(redis: Redis, keys: StoreKeys, now = Date.now()): Promise<WorkerBeat[]> {
  const [[, ids]] = (await redis
    .multi()
    .zrevrangebyscore(keys.workerIndex(), '+inf', now)
    .zremrangebyscore(keys.workerIndex(), '-inf', `(${now}`)
    .exec()) as [[Error | null, string[]]];
  if (ids.length === 0) return [];
  const beats = await redis.mget(ids.map((id) => keys.worker(id)));
  return beats.flatMap((raw) => (raw ? [JSON.parse(raw) as WorkerBeat] : []));
}
