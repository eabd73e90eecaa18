import { WaitingError, Worker, type Job, type Processor, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { isRedisOutOfMemory } from '../../shared/errors.js';
import { FINISHED_JOB_RETENTION } from '../../shared/job-options.js';

/**
 * The one place that relies on BullMQ's Worker beyond its documented use; test/integration/queue-consumer.test.ts
 * fails when a BullMQ release changes what is used here (`bullmq` is pinned with `~` for the same reason):
 * - the private `blockUntil` (when the next delayed job is due, as the last empty fetch reported it);
 * - the protected `lockManager`, started here because the Worker's own main loop, which starts it, never runs;
 * - `extendJobLocks` and `callProcessJob`, overridden to learn when each running job's lock was last renewed;
 * - the keys of a job's lock, of the active list and of the stalled set, which `keepLock` reads and writes
 *   through the backend's client, an ioredis one.
 */

/** Why this worker gave up a running job; the processor's signal is aborted with it. */
export type GiveUpReason = 'lock-lost' | 'shutdown';

/**
 * Thrown by a processor for a job this worker gave up. A WaitingError, so that BullMQ neither fails nor retries the
 * job: whoever holds it now (another worker, the queue it was handed back to) decides what happens to it.
 */
export class JobGivenUpError extends WaitingError {
  constructor(readonly reason: GiveUpReason) {
    super(`job given up: ${reason}`);
  }
}

/** Why the run that threw `err` was given up, if it was: its signal was aborted by the consumer, or it threw so. */
export function giveUpReason(err: unknown, signal?: AbortSignal): GiveUpReason | undefined {
  if (err instanceof JobGivenUpError) return err.reason;
  if (signal?.aborted) return signal.reason === 'shutdown' ? 'shutdown' : 'lock-lost';
  return undefined;
}

/**
 * Moves a job this worker gave up back to its queue if its lock is still `token`'s, so it runs again without
 * waiting for the lock to expire; when the lock is gone the stalled-job check moves it instead.
 */
export async function handBack(job: Job, token: string): Promise<void> {
  await job.moveToWait(token).catch(() => undefined);
}

/** A lock renewed this long before its end is still safe to write under; older ones may have expired. */
const LOCK_SAFETY = 0.8;

/**
 * Renews a job's lock if it is still the token's, or takes it again if it expired while the job is still active
 * (nobody else fetched it, the stalled-job check has not moved it): a Redis that was down or full for longer
 * than the lock leaves the job to the worker that runs it. Takes it off the stalled set as BullMQ's renewal does.
 */
const KEEP_LOCK = `
local lock = redis.call('GET', KEYS[1])
if lock == ARGV[1] or (not lock and redis.call('LPOS', KEYS[2], ARGV[3])) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('SREM', KEYS[3], ARGV[3])
  return 1
end
return 0`;

/**
 * A BullMQ Worker whose jobs we fetch ourselves. BullMQ's own main loop serves one queue with its
 * own concurrency; a docfleet worker serves two queues (its tag's and `any`) from ONE pool of
 * context sequences, so the fetching is done by the SlotScheduler and only lock renewal, the
 * stalled-job check and completion/failure bookkeeping stay with BullMQ, as does how long finished jobs
 * are kept (FINISHED_JOB_RETENTION unless `opts` says otherwise).
 *
 * A job whose lock this worker may have lost is given up: its processor's signal is aborted with `lock-lost`, so
 * its generation stops instead of finishing a job another worker may run. That is a lock whose renewal was
 * refused and which could not be kept (see KEEP_LOCK), or one not confirmed for most of its duration, as when
 * Redis does not answer. A full Redis answers: it refuses the renewal but every other worker's fetch too, so the
 * job stays, and its lock is kept once Redis accepts writes again.
 */
export class QueueConsumer extends Worker {
  /** Running jobs: their token, and when the request that last extended their lock was sent (ms since the epoch). */
  private readonly held = new Map<string, { token: string; renewedAt: number }>();
  private lockTimer?: NodeJS.Timeout;
  private readonly lockMs: number;

  constructor(queue: string, processor: Processor, opts: WorkerOptions) {
    super(queue, processor, { ...FINISHED_JOB_RETENTION, ...opts, autorun: false });
    this.lockMs = this.opts.lockDuration ?? 30_000;
    this.on('lockRenewalFailed', (ids) => ids.forEach((id) => this.giveUp(id, 'lock-lost')));
  }

  async startBackground(): Promise<void> {
    await this.startStalledCheckTimer();
    this.lockManager.start();
    const every = Math.max(100, Math.round(this.lockMs / 10));
    this.lockTimer = setInterval(() => this.checkLocks(), every);
    this.lockTimer.unref();
  }

  /** The sorted set BullMQ writes to wake idle workers of this queue (see `waitForJob` in BullMQ's Worker). */
  get markerKey(): string {
    return this.keys.marker ?? this.toKey('marker');
  }

  /**
   * When this queue's next delayed job is due (ms since the epoch), as Redis reported it with the last
   * fetch that found no job; 0 when none is known. BullMQ keeps it in the Worker's private `blockUntil`.
   */
  get delayedUntil(): number {
    const value = (this as unknown as { blockUntil?: unknown }).blockUntil;
    return typeof value === 'number' && value > 0 ? value : 0;
  }

  /** Aborts a running job's signal; true if it ran here. */
  giveUp(jobId: string, reason: GiveUpReason): boolean {
    return this.cancelJob(jobId, reason);
  }

  /** Renews `jobId`'s lock, or takes it again if it expired and nobody took the job; false if it is lost. */
  async keepLock(jobId: string, token: string): Promise<boolean> {
    // The Redis backend's client is the ioredis connection the consumer was given (or one it opened).
    const client = (await this.backend.client) as unknown as Redis;
    const lockKey = `${this.toKey(jobId)}:lock`;
    const { active, stalled } = this.keys;
    return (await client.eval(KEEP_LOCK, 3, lockKey, active!, stalled!, token, this.lockMs, jobId)) === 1;
  }

  override async extendJobLocks(jobIds: string[], tokens: string[], duration: number): Promise<string[]> {
    const sentAt = Date.now();
    let refused: string[];
    try {
      refused = await super.extendJobLocks(jobIds, tokens, duration);
    } catch (err) {
      if (isRedisOutOfMemory(err)) this.confirm(jobIds, sentAt);
      throw err;
    }
    const lost: string[] = [];
    for (const id of refused) {
      const token = this.held.get(id)?.token;
      // A full Redis refuses to take the lock again, but every other worker's fetch too: it is taken once it can.
      const kept = token && (await this.keepLock(id, token).catch((err: unknown) => isRedisOutOfMemory(err)));
      if (!kept) lost.push(id);
    }
    this.confirm(
      jobIds.filter((id) => !lost.includes(id)),
      sentAt,
    );
    return lost;
  }

  protected override async callProcessJob(job: Job, token: string, signal?: AbortSignal): Promise<unknown> {
    const id = job.id!;
    // The lock was taken when the job moved to active, at `processedOn` by this host's clock.
    this.held.set(id, { token, renewedAt: Math.min(Date.now(), job.processedOn ?? Date.now()) });
    try {
      return await super.callProcessJob(job, token, signal);
    } finally {
      this.held.delete(id);
    }
  }

  override async close(force?: boolean): Promise<void> {
    clearInterval(this.lockTimer);
    await super.close(force);
  }

  private confirm(jobIds: string[], at: number): void {
    for (const id of jobIds) {
      const job = this.held.get(id);
      if (job) job.renewedAt = at;
    }
  }

  private checkLocks(): void {
    const limit = Date.now() - this.lockMs * LOCK_SAFETY;
    for (const [id, job] of this.held) {
      if (job.renewedAt < limit) {
        this.held.delete(id);
        this.giveUp(id, 'lock-lost');
      }
    }
  }
}
