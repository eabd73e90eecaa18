import type { Redis } from 'ioredis';
import type { StoreKeys } from '../shared/store-keys.js';
import { BEATS_TO_LIVE, type WorkerBeat } from '../shared/worker-beats.js';

/** What changes from beat to beat. */
export interface WorkerLoad {
  busy: number;
  /** Tokens read and generated since start. */
  tokens: number;
  jobsDone: number;
}

/** What stays the same for the worker's life. */
export type WorkerIdentity = Omit<WorkerBeat, 'busy' | 'tokensPerSecond' | 'jobsDone' | 'beatAt' | 'intervalMs'>;

/**
 * Writes the worker's identity and load to Redis every `intervalMs`, under a key that expires after
 * {@link BEATS_TO_LIVE} intervals, and lists it in the worker index by that expiry (see liveWorkers). A worker that
 * dies simply stops beating and drops out; `close()` removes the entry at once.
 */
export class Heartbeat {
  private timer?: NodeJS.Timeout;
  private last: { at: number; tokens: number };
  private beating?: Promise<void>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
    private readonly identity: WorkerIdentity,
    private readonly intervalMs: number,
    private readonly load: () => WorkerLoad,
    private readonly onError: (err: Error) => void,
  ) {
    this.last = { at: Date.now(), tokens: 0 };
  }

  start(): void {
    this.beat();
    this.timer = setInterval(() => this.beat(), this.intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.beating;
    await this.redis
      .multi()
      .del(this.keys.worker(this.identity.id))
      .zrem(this.keys.workerIndex(), this.identity.id)
      .exec();
  }

  private beat(): void {
    // A beat still waiting on Redis (an outage) is not doubled; the next one after it carries the news.
    if (this.beating) return;
    const now = Date.now();
    const { busy, tokens, jobsDone } = this.load();
    const seconds = (now - this.last.at) / 1000;
    const beat: WorkerBeat = {
      ...this.identity,
      busy,
      tokensPerSecond: seconds > 0 ? Math.round(((tokens - this.last.tokens) / seconds) * 10) / 10 : 0,
      jobsDone,
      beatAt: now,
      intervalMs: this.intervalMs,
    };
    this.last = { at: now, tokens };
    const ttl = this.intervalMs * BEATS_TO_LIVE;
    this.beating = this.redis
      .multi()
      .set(this.keys.worker(beat.id), JSON.stringify(beat), 'PX', ttl)
      .zadd(this.keys.workerIndex(), now + ttl, beat.id)
      // Writers prune too, so that the index stays as small as the fleet even when nobody reads it.
      .zremrangebyscore(this.keys.workerIndex(), '-inf', `(${now}`)
      .exec()
      .then(
        () => undefined,
        (err: unknown) => this.onError(err as Error),
      )
      .finally(() => (this.beating = undefined));
  }
}
