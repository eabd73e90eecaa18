import type { Job } from 'bullmq';
import { asError } from '../../shared/errors.js';
import { settleWithin } from '../../shared/settle-within.js';
import type { QueueState } from './queue-state.js';

/** A slot that holds a job; with fetch-next it runs one job after another from the same queue. */
interface Lane {
  queue: QueueState;
  job: Job;
  token: string;
  done: Promise<void>;
}

/** What the scheduler decides for its lanes, and hears back from them. */
export interface LaneHooks {
  /** Whether a lane whose job from `q` just finished may take the next job of `q` at once. */
  fetchNext(q: QueueState): boolean;
  /** The lane asked `q` for its next job and got none. */
  drained(q: QueueState): void;
  /** A lane has ended: its slot is free. */
  ended(): void;
  onError(err: Error): void;
}

/**
 * The slots that hold a job. Each lane streams its queue: when its job finishes it takes the next job of the
 * same queue in the same Redis call (BullMQ's fetch-next) while the scheduler allows, and ends otherwise.
 */
export class Lanes {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly hooks: LaneHooks) {}

  /** Jobs held right now. */
  get size(): number {
    return this.lanes.size;
  }

  /** Runs `first`, fetched from `q` with `token`, and the jobs of `q` that follow it. */
  run(q: QueueState, first: Job, token: string): void {
    const lane: Lane = { queue: q, job: first, token, done: Promise.resolve() };
    this.lanes.set(token, lane);
    lane.done = (async () => {
      try {
        for (let job: Job | undefined = first; job;) {
          lane.job = job;
          let asked = false;
          const next = await q.consumer.processJob(job, token, () => (asked = this.hooks.fetchNext(q)));
          if (next) q.ready = true;
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by the callback above
          else if (asked) this.hooks.drained(q);
          job = next || undefined;
        }
      } catch (err) {
        this.hooks.onError(asError(err));
      } finally {
        this.lanes.delete(token);
        this.hooks.ended();
      }
    })();
  }

  /**
   * Moves the jobs still held back to their queue, so another worker takes them without waiting for a lock
   * to expire, and aborts their runs. Returns how many there were.
   */
  async handBack(abortMs: number): Promise<number> {
    const left = [...this.lanes.values()];
    const moves = left.map((l) => l.job.moveToWait(l.token).catch((err: unknown) => this.hooks.onError(asError(err))));
    // Not handed back while Redis is unreachable: their locks expire and the stalled-job check moves them.
    await settleWithin(Promise.all(moves), abortMs);
    for (const l of left) l.queue.consumer.giveUp(l.job.id!, 'shutdown');
    return left.length;
  }

  /** Waits until no lane runs, at most `ms`. A lane may still take one job it asked for just before the stop. */
  async ended(ms: number): Promise<void> {
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
