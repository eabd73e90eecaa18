import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { asError } from '../../shared/errors.js';
import { settleWithin } from '../../shared/settle-within.js';
import { Lanes } from './lanes.js';
import { isIoredis, MarkerWatcher } from './marker-watcher.js';
import type { QueueConsumer } from './queue-consumer.js';
import { markQueue, promoteDue, type QueueState } from './queue-state.js';

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
  private readonly lanes = new Lanes({
    fetchNext: (q) => this.fetchNextFrom(q),
    drained: (q) => this.drained(q),
    ended: () => this.signal(),
    onError: (err) => this.onError(err),
  });
  private inFlight = 0;
  private wake?: () => void;
  private stopping = false;
  private loop?: Promise<void>;
  /** The queue whose turn is next, round-robin. */
  private turn = 0;
  private tokens = 0;
  private lastProbe = 0;
  /** The markers of the queues no slot streams are being taken (a non-blocking ZPOPMIN). */
  private taking = false;
  /** Absent without an ioredis connection to duplicate. */
  private readonly watcher?: MarkerWatcher;
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
    const connection = opts.connection ?? (isIoredis(own) ? own : undefined);
    this.watcher = connection && new MarkerWatcher(connection);
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
      promoteDue(this.queues);
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
          if (job) this.lanes.run(q, job, token);
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
    const watcher = this.watcher;
    if (!watcher) {
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
    let wake;
    try {
      wake = await watcher.wait(
        order.map((q) => q.consumer.markerKey),
        waitMs,
      );
    } catch (err) {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() sets it while we await
      if (this.stopping) return;
      throw err;
    }
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() sets it while we await
    if (this.stopping || wake === 'retry') return;
    if (wake === 'stuck') {
      for (const q of this.queues) q.ready = true;
      return;
    }
    if (wake === 'timeout') {
      // After drainDelay look at every queue, as BullMQ's worker does (a marker may have gone to another
      // worker); a shorter wait was cut for a delayed job, which the loop now finds due.
      if (waitMs >= this.drainDelayMs) for (const q of this.queues) q.ready = true;
      return;
    }
    const q = this.queues.find((s) => s.consumer.markerKey === wake.key);
    if (q) markQueue(q, wake.score);
  }

  /** How long an idle wait may last: until the first known delayed job, at most drainDelay. */
  private nextWaitMs(): number {
    const now = Date.now();
    const due = this.queues.filter((q) => q.dueAt > 0).map((q) => q.dueAt - now);
    return Math.min(this.drainDelayMs, ...due);
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
    if (others.length > 0 && !this.watcher?.watching && Date.now() - this.lastProbe >= this.probeMs) {
      // Nobody watches the other queues' markers while every slot is busy: look at them now and then.
      this.lastProbe = Date.now();
      if (this.watcher) {
        this.takeMarkers(this.watcher, others);
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
  private takeMarkers(watcher: MarkerWatcher, queues: QueueState[]): void {
    if (this.taking) return;
    this.taking = true;
    watcher
      .take(queues.map((q) => q.consumer.markerKey))
      .then((scores) => {
        const wasReady = queues.map((q) => q.ready);
        scores.forEach((score, i) => {
          if (score !== undefined) markQueue(queues[i]!, score);
        });
        promoteDue(queues);
        const woken = queues.find((q, i) => q.ready && !wasReady[i]);
        if (woken) this.turn = woken.index;
      })
      .catch((err: unknown) => this.onError(asError(err)))
      .finally(() => (this.taking = false));
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
    this.watcher?.close();
    await Promise.all(this.queues.map((q) => q.consumer.pause(true)));
    // A fetch waits for Redis while it is unreachable; a stop does not.
    await settleWithin(this.loop ?? Promise.resolve(), abortMs);
    this.watcher?.close();
    await this.lanes.ended(graceMs);
    const handedBack = await this.lanes.handBack(abortMs);
    await this.lanes.ended(abortMs);
    return handedBack;
  }
}
