import type { Redis } from 'ioredis';

/** Longest a blocking wait may hang beyond its timeout before the connection is replaced (ioredis can lose it). */
const WATCHDOG_SLACK_MS = 2_000;

/** What one wait on the markers came to. */
export type MarkerWake =
  /** A queue's marker was taken, with its score: 0 (or a past time) means jobs wait, a later time a delayed job due then. */
  | { key: string; score: number }
  /** Nothing came within the wait. */
  | 'timeout'
  /** The wait hung past its timeout; its connection was replaced, so anything may have been missed. */
  | 'stuck'
  /** Redis refused a fractional timeout (Redis < 6); later waits use whole seconds. Nothing was waited for. */
  | 'retry';

/**
 * One blocking BZPOPMIN over the marker keys of several queues, on a duplicate of the consumers' connection
 * that is opened on first use, so an idle worker wakes for whichever queue gets a job.
 */
export class MarkerWatcher {
  #blocking?: Redis;
  #fractionalTimeouts = true;
  #closed = false;
  #watching = false;

  constructor(private readonly connection: Redis) {}

  /** A wait is in flight. */
  get watching(): boolean {
    return this.#watching;
  }

  /** Waits up to `waitMs` for the first of `keys` (in that order of preference) to be marked. */
  async wait(keys: string[], waitMs: number): Promise<MarkerWake> {
    const client = this.#client();
    const seconds = this.#fractionalTimeouts ? Math.max(0.01, waitMs / 1000) : Math.max(1, Math.ceil(waitMs / 1000));
    const pop = client.bzpopmin(...keys, seconds);
    pop.catch(() => undefined);
    let watchdog: NodeJS.Timeout | undefined;
    const stuck = new Promise<'stuck'>(
      (resolve) => (watchdog = setTimeout(() => resolve('stuck'), seconds * 1000 + WATCHDOG_SLACK_MS)),
    );
    this.#watching = true;
    let reply: [string, string, string] | null | 'stuck';
    try {
      reply = await Promise.race([pop, stuck]);
    } catch (err) {
      if (this.#fractionalTimeouts && !this.#closed && /timeout is not/i.test((err as Error).message)) {
        this.#fractionalTimeouts = false;
        return 'retry';
      }
      throw err;
    } finally {
      this.#watching = false;
      clearTimeout(watchdog);
    }
    if (reply === 'stuck') {
      this.reset();
      return 'stuck';
    }
    if (!reply) return 'timeout';
    const [key, , scoreText] = reply;
    return { key, score: Number(scoreText) };
  }

  /**
   * Takes the markers of `keys` without blocking (on the shared connection, not the blocking one): per key the
   * score of the marker taken, undefined where there was none.
   */
  async take(keys: string[]): Promise<Array<number | undefined>> {
    const pipe = this.connection.pipeline();
    for (const key of keys) pipe.zpopmin(key);
    const replies = (await pipe.exec()) ?? [];
    return keys.map((_, i) => {
      const [err, reply] = replies[i] ?? [null, null];
      const scoreText = err ? undefined : (reply as string[] | null)?.[1];
      return scoreText === undefined ? undefined : Number(scoreText);
    });
  }

  /** Drops the blocking connection, interrupting a wait; the next wait opens a new one. */
  reset(): void {
    this.#blocking?.disconnect();
    this.#blocking = undefined;
  }

  /** Interrupts a wait and opens no connection again. */
  close(): void {
    this.#closed = true;
    this.reset();
  }

  #client(): Redis {
    if (!this.#blocking) {
      if (this.#closed) throw new Error('MarkerWatcher: closed');
      this.#blocking = this.connection.duplicate();
      this.#blocking.on('error', () => undefined);
    }
    return this.#blocking;
  }
}

/** Whether `value` is an ioredis client a watcher can duplicate. */
export function isIoredis(value: unknown): value is Redis {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Redis).duplicate === 'function' &&
    typeof (value as Redis).bzpopmin === 'function'
  );
}
