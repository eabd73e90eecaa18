import type { Redis } from 'ioredis';
import { isRedisOutOfMemory } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

export interface RedisWriteWatchOptions {
  /** A key of this worker's own that the probe writes (it expires at once). */
  probeKey: string;
  /** How often a full Redis is tried again, ms. @defaultValue 1000 */
  probeMs?: number;
}

/**
 * Whether Redis accepts writes. A Redis at its `maxmemory` with `noeviction` answers but refuses every write:
 * no job can be fetched, finished or stored, so the worker reports itself not ready and waits, instead of
 * burning attempts or logging the refusal every second. Errors are `report`ed to it; from the first one that
 * says Redis is full it writes a probe key now and then, and lets the waiters go on the first write that works.
 */
export class RedisWriteWatch {
  private timer?: NodeJS.Timeout;
  private waiters: (() => void)[] = [];
  private readonly probeMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
    private readonly opts: RedisWriteWatchOptions,
  ) {
    this.probeMs = opts.probeMs ?? 1_000;
  }

  /** Redis refused writes and has not accepted one since. */
  get full(): boolean {
    return this.timer !== undefined;
  }

  /** Takes note of an error from Redis; true if it says Redis is out of memory (the caller need not log it). */
  report(err: unknown): boolean {
    if (!isRedisOutOfMemory(err)) return false;
    if (!this.timer) {
      this.log.error(
        { error: (err as Error).message },
        'Redis is out of memory (maxmemory, noeviction): not taking jobs until it accepts writes again',
      );
      this.timer = setInterval(() => void this.probe(), this.probeMs);
    }
    return true;
  }

  /** Resolves once Redis accepts writes (at once unless it is full), or when `signal` aborts. */
  writable(signal?: AbortSignal): Promise<void> {
    if (!this.full || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.release();
  }

  private async probe(): Promise<void> {
    try {
      await this.redis.set(this.opts.probeKey, '1', 'PX', 1);
    } catch {
      return;
    }
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.log.info('Redis accepts writes again: taking jobs');
    this.release();
  }

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
