import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { settleWithin } from '../../shared/settle-within.js';
import type { QueueConsumer } from './queue-consumer.js';

export interface SlotSchedulerOptions {
  /**
   * The connection the consumers use. The scheduler opens its own duplicate of it for one blocking
   * BZPOPMIN over every queue's marker key, and closes it on stop. Defaults to the first consumer's
   * connection when that is an ioredis client.
   */
  connection?: Redis;
  /**
   * While every slot streams jobs from one queue, the other queues are looked at again this often, so
   * a job arriving there waits at most this long plus one job for a slot (default 250 ms).
   */
  probeMs?: number;
}

/** One queue as the scheduler sees it. */
interface QueueState {
  consumer: QueueConsumer;
  index: number;
  /** A fetch may find a job: not drained when last looked at, or woken since. */
  ready: boolean;
  /** The next delayed job of this queue is due then (ms since the epoch); 0 if none is known. */
  dueAt: number;
}

/** A slot that holds a job; with fetch-next it runs one job after another from the same queue. */
interface Lane {
  queue: QueueState;
  job: Job;
  token: string;
  done: Promise<void>;
}

/** Longest a blocking wait may hang beyond its timeout before the connection is replaced (ioredis can lose it). */
const WATCHDOG_SLACK_MS = 2_000;

/**
 * Runs at most `slots` jobs at once across several queues. A job is fetched only when a slot is
 * free, so a busy worker never holds jobs it cannot start (another worker with a free slot gets
 * them). Queues are served round-robin so neither the tag's queue nor `any` can starve the other.
 *
 * - A slot whose job finishes takes the next job of the same queue in the same Redis call (BullMQ's
 *   fetch-next), unless another queue is due its turn: a busy queue streams.
 * - Free slots are filled by parallel, non-blocking fetches spread over the queues that may have jobs.
 * - A worker with a free slot and nothing to fetch blocks in ONE `BZPOPMIN` over the marker keys of
 *   all its queues (its own connection), so it wakes for whichever queue gets a job. A delayed-job
 *   marker carries the time that job is due: the wait is cut short then. Without any wake-up the
 *   queues are fetched again after the consumers' `drainDelay` (seconds), as BullMQ's own worker does.
 */
export class SlotScheduler {
  private readonly queues: QueueState[];
  private readonly lanes = new Map<string, Lane>();
  private inFlight = 0;
  private wake?: () => void;
  private stopping = false;
  private loop?: Promise<void>;
  /** The queue whose turn is next, round-robin. */
  private turn = 0;
  private tokens = 0;
  private lastProbe = 0;
  /** A blocking wait on the markers is in flight. */
  private watching = false;
  /** The markers of the queues no slot streams are being taken (a non-blocking ZPOPMIN). */
  private taking = false;
  private blocking?: Redis;
  private fractionalTimeouts = true;
  private readonly connection?: Redis;
  private readonly probeMs: number;
  private readonly drainDelayMs: number;

  constructor(
    consumers: QueueConsumer[],
    readonly slots: number,
    private readonly onError: (err: Error) => void,
    opts: SlotSchedulerOptions = {},
  ) {
    if (consumers.length === 0) throw new Error('SlotScheduler: no queues');
    this.queues = consumers.map((consumer, index) => ({ consumer, index, ready: true, dueAt: 0 }));
    const own = consumers[0]!.opts.connection as unknown;
    this.connection = opts.connection ?? (isIoredis(own) ? own : undefined);
    this.probeMs = opts.probeMs ?? 250;
    this.drainDelayMs = Math.max(10, (consumers[0]!.opts.drainDelay ?? 5) * 1000);
  }

  /** Jobs held right now. */
  get busy(): number {
    return this.lanes.size;
  }

  start(): void {
    this.loop = this.fetchLoop();
  }

  private get free(): number {
    return this.slots - this.lanes.size - this.inFlight;
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async fetchLoop(): Promise<void> {
    while (!this.stopping) {
      if (this.free <= 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      this.promoteDue(this.queues);
      try {
        if (this.queues.some((q) => q.ready)) await this.fill();
        else await this.waitForMarker();
      } catch (err) {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() sets it while we await
        if (this.stopping) break;
        // Redis away: BullMQ's connection reconnects by itself; do not spin meanwhile.
        this.onError(asError(err));
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  /** Fetches into every free slot at once, round-robin over the queues that may have jobs. */
  private async fill(): Promise<void> {
    const ready = this.queues.filter((q) => q.ready);
    const n = this.free;
    // Start at the queue whose turn it is (or the next ready one after it).
    const first = Math.max(
      0,
      ready.findIndex((q) => q.index >= this.turn),
    );
    const picks = Array.from({ length: n }, (_, i) => ready[(first + i) % ready.length]!);
    this.turn = (picks[picks.length - 1]!.index + 1) % this.queues.length;
    this.inFlight += n;
    const results = await Promise.allSettled(
      picks.map(async (q) => {
        const token = `${q.consumer.id}:${this.tokens++}`;
        try {
          // Typed as always a Job, but an empty queue gives undefined.
          const job = (await q.consumer.getNextJob(token, { block: false })) as Job | undefined;
          if (job) this.run(q, job, token);
          else this.drained(q);
        } finally {
          this.inFlight--;
        }
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** The queue had no job for us: wait for its marker, or for its next delayed job. */
  private drained(q: QueueState): void {
    q.ready = false;
    q.dueAt = q.consumer.delayedUntil;
  }

  /**
   * Nothing to fetch and a slot free: block on every queue's marker. A marker scored 0 means jobs wait;
   * a marker scored with a time means a delayed job is due then.
   */
  private async waitForMarker(): Promise<void> {
    if (this.stopping) return;
    const client = this.blockingClient();
    if (!client) {
      // No connection of our own to block on: poll as BullMQ would after drainDelay.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.nextWaitMs());
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() sets it while we await
      if (!this.stopping) for (const q of this.queues) q.ready = true;
      return;
    }
    const waitMs = this.nextWaitMs();
    if (waitMs <= 0) return;
    const order = [...this.queues.slice(this.turn), ...this.queues.slice(0, this.turn)];
    const seconds = this.fractionalTimeouts ? Math.max(0.01, waitMs / 1000) : Math.max(1, Math.ceil(waitMs / 1000));
    const pop = client.bzpopmin(...order.map((q) => q.consumer.markerKey), seconds);
    pop.catch(() => undefined);
    let watchdog: NodeJS.Timeout | undefined;
    const stuck = new Promise<'stuck'>(
      (resolve) => (watchdog = setTimeout(() => resolve('stuck'), seconds * 1000 + WATCHDOG_SLACK_MS)),
    );
    this.watching = true;
    let reply: [string, string, string] | null | 'stuck';
    try {
      reply = await Promise.race([pop, stuck]);
    } catch (err) {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() sets it while we await
      if (this.stopping) return;
      if (this.fractionalTimeouts && /timeout is not/i.test((err as Error).message)) {
        this.fractionalTimeouts = false; // Redis < 6 takes whole seconds only
        return;
      }
      throw err;
    } finally {
      this.watching = false;
      clearTimeout(watchdog);
    }
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() sets it while we await
    if (this.stopping) return;
    if (reply === 'stuck') {
      this.replaceBlockingClient();
      for (const q of this.queues) q.ready = true;
      return;
    }
    if (!reply) {
      // Timed out. After drainDelay look at every queue, as BullMQ's worker does (a marker may have gone to
      // another worker); a shorter wait was cut for a delayed job, which the loop now finds due.
      if (waitMs >= this.drainDelayMs) for (const q of this.queues) q.ready = true;
      return;
    }
    const [key, , scoreText] = reply;
    const q = this.queues.find((s) => s.consumer.markerKey === key);
    if (!q) return;
    this.marked(q, Number(scoreText));
  }

  /** A marker scored 0 (or a time now past) means jobs wait; one scored with a later time, a delayed job due then. */
  private marked(q: QueueState, score: number): void {
    if (score <= Date.now()) {
      q.ready = true;
      q.dueAt = 0;
    } else {
      q.dueAt = q.dueAt > 0 ? Math.min(q.dueAt, score) : score;
    }
  }

  /** Queues whose next delayed job has come due may be fetched from again. */
  private promoteDue(queues: QueueState[]): void {
    const now = Date.now();
    for (const q of queues) {
      if (!q.ready && q.dueAt > 0 && q.dueAt <= now) {
        q.ready = true;
        q.dueAt = 0;
      }
    }
  }

  /** How long an idle wait may last: until the first known delayed job, at most drainDelay. */
  private nextWaitMs(): number {
    const now = Date.now();
    const due = this.queues.filter((q) => q.dueAt > 0).map((q) => q.dueAt - now);
    return Math.min(this.drainDelayMs, ...due);
  }

  private blockingClient(): Redis | undefined {
    if (!this.blocking && this.connection && !this.stopping) {
      this.blocking = this.connection.duplicate();
      this.blocking.on('error', () => undefined);
    }
    return this.blocking;
  }

  private replaceBlockingClient(): void {
    this.blocking?.disconnect();
    this.blocking = undefined;
  }

  /** Whether a slot whose job from `q` just finished may take the next job of `q` at once. */
  private fetchNextFrom(q: QueueState): boolean {
    if (this.stopping) return false;
    const others = this.queues.filter((o) => o !== q);
    if (others.some((o) => o.ready)) {
      // Another queue has jobs too: take turns.
      if (this.turn !== q.index) return false;
      this.turn = (q.index + 1) % this.queues.length;
      return true;
    }
    if (others.length > 0 && !this.watching && Date.now() - this.lastProbe >= this.probeMs) {
      // Nobody watches the other queues' markers while every slot is busy: look at them now and then.
      this.lastProbe = Date.now();
      if (this.connection) {
        this.takeMarkers(this.connection, others);
      } else {
        // Nothing to look with: this slot fetches from the others itself.
        for (const o of others) o.ready = true;
        this.turn = others[0]!.index;
        return false;
      }
    }
    return true;
  }

  /**
   * Takes the markers of `queues` without blocking, as an idle worker's BZPOPMIN would, so the slot that asked
   * goes on streaming its queue meanwhile. BullMQ marks a queue each time a job is added or fetched, so a
   * marker means jobs may wait; one left by the last fetch is taken once and then gone. A queue found marked,
   * or whose delayed job has come due, gets the next turn: the next slot that finishes fetches from it.
   */
  private takeMarkers(connection: Redis, queues: QueueState[]): void {
    if (this.taking) return;
    this.taking = true;
    const pipe = connection.pipeline();
    for (const q of queues) pipe.zpopmin(q.consumer.markerKey);
    pipe
      .exec()
      .then((replies) => {
        const wasReady = queues.map((q) => q.ready);
        replies?.forEach(([err, reply], i) => {
          const scoreText = err ? undefined : (reply as string[] | null)?.[1];
          if (scoreText !== undefined) this.marked(queues[i]!, Number(scoreText));
        });
        this.promoteDue(queues);
        const woken = queues.find((q, i) => q.ready && !wasReady[i]);
        if (woken) this.turn = woken.index;
      })
      .catch((err: unknown) => this.onError(asError(err)))
      .finally(() => (this.taking = false));
  }

  private run(q: QueueState, first: Job, token: string): void {
    const lane: Lane = { queue: q, job: first, token, done: Promise.resolve() };
    this.lanes.set(token, lane);
    lane.done = (async () => {
      try {
        for (let job: Job | undefined = first; job;) {
          lane.job = job;
          let asked = false;
          const next = await q.consumer.processJob(job, token, () => (asked = this.fetchNextFrom(q)));
          if (next) q.ready = true;
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by the callback above
          else if (asked) this.drained(q);
          job = next || undefined;
        }
      } catch (err) {
        this.onError(asError(err));
      } finally {
        this.lanes.delete(token);
        this.signal();
      }
    })();
  }

  /**
   * Stops fetching and waits up to `graceMs` for running jobs. Jobs still running then are moved
   * back to their queue at once, so another worker takes them without waiting for a lock to expire,
   * and their runs are aborted; it returns, with how many were handed back, once every run has ended
   * (or `abortMs` later), so that nothing uses the model after it is disposed.
   */
  async stop(graceMs: number, abortMs = 10_000): Promise<number> {
    this.stopping = true;
    this.signal();
    // Interrupts a blocking wait on the markers.
    this.replaceBlockingClient();
    await Promise.all(this.queues.map((q) => q.consumer.pause(true)));
    // A fetch waits for Redis while it is unreachable; a stop does not.
    await settleWithin(this.loop ?? Promise.resolve(), abortMs);
    this.replaceBlockingClient();
    await this.lanesEnded(graceMs);
    const left = [...this.lanes.values()];
    const handBack = left.map((l) => l.job.moveToWait(l.token).catch((err: unknown) => this.onError(asError(err))));
    // Not handed back while Redis is unreachable: their locks expire and the stalled-job check moves them.
    await settleWithin(Promise.all(handBack), abortMs);
    for (const l of left) l.queue.consumer.giveUp(l.job.id!, 'shutdown');
    await this.lanesEnded(abortMs);
    return left.length;
  }

  /** Waits until no lane runs, at most `ms`. A lane may still take one job it asked for just before the stop. */
  private async lanesEnded(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.lanes.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...this.lanes.values()].map((l) => l.done)),
        new Promise((r) => (timer = setTimeout(r, deadline - Date.now()))),
      ]);
      clearTimeout(timer);
    }
  }
}

function isIoredis(value: unknown): value is Redis {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Redis).duplicate === 'function' &&
    typeof (value as Redis).bzpopmin === 'function'
  );
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
