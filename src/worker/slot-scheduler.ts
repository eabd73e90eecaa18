import { Worker, type Job, type Processor, type WorkerOptions } from 'bullmq';

/**
 * A BullMQ Worker whose jobs we fetch ourselves. BullMQ's own main loop serves one queue with its
 * own concurrency; a docfleet worker serves two queues (its tag's and `any`) from ONE pool of
 * context sequences, so the fetching is done by the SlotScheduler and only lock renewal, the
 * stalled-job check and completion/failure bookkeeping stay with BullMQ.
 */
export class QueueConsumer extends Worker {
  constructor(queue: string, processor: Processor, opts: WorkerOptions) {
    super(queue, processor, { ...opts, autorun: false });
  }

  async startBackground(): Promise<void> {
    await this.startStalledCheckTimer();
    this.lockManager.start();
  }
}

interface Running {
  job: Job;
  token: string;
  done: Promise<unknown>;
}

/**
 * Runs at most `slots` jobs at once across several queues. A job is fetched only when a slot is
 * free, so a busy worker never holds jobs it cannot start (another worker with a free slot gets
 * them). Queues are tried round-robin so neither the tag's queue nor `any` can starve the other.
 */
export class SlotScheduler {
  private readonly running = new Map<string, Running>();
  private slotFreed?: () => void;
  private stopping = false;
  private loop?: Promise<void>;
  private nextQueue = 0;
  private tokens = 0;

  constructor(
    private readonly consumers: QueueConsumer[],
    readonly slots: number,
    private readonly onError: (err: Error) => void,
  ) {}

  get busy(): number {
    return this.running.size;
  }

  start(): void {
    this.loop = this.fetchLoop();
  }

  private async fetchLoop(): Promise<void> {
    while (!this.stopping) {
      if (this.running.size >= this.slots) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        continue;
      }
      try {
        const fetched = await this.fetch();
        if (fetched) this.run(...fetched);
      } catch (err) {
        // Redis away: BullMQ's connection reconnects by itself; do not spin meanwhile.
        this.onError(err as Error);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  /** One pass without blocking over every queue, then a short blocking wait on one of them. */
  private async fetch(): Promise<[QueueConsumer, Job, string] | undefined> {
    const n = this.consumers.length;
    for (let i = 0; i <= n && !this.stopping; i++) {
      const consumer = this.consumers[(this.nextQueue + i) % n]!;
      const token = `${consumer.id}:${this.tokens++}`;
      // The last try blocks (for at most the consumer's drainDelay) so an idle worker does not poll.
      const job = await consumer.getNextJob(token, { block: i === n });
      if (job) {
        this.nextQueue = (this.nextQueue + i + 1) % n;
        return [consumer, job, token];
      }
    }
    this.nextQueue = (this.nextQueue + 1) % n;
    return undefined;
  }

  private run(consumer: QueueConsumer, job: Job, token: string): void {
    const done = consumer
      .processJob(job, token, () => false)
      .catch((err: Error) => this.onError(err))
      .finally(() => {
        this.running.delete(token);
        this.slotFreed?.();
      });
    this.running.set(token, { job, token, done });
  }

  /**
   * Stops fetching and waits up to `graceMs` for running jobs. Jobs still running then are moved
   * back to their queue at once, so another worker takes them without waiting for a lock to expire.
   * Returns how many were handed back.
   */
  async stop(graceMs: number): Promise<number> {
    this.stopping = true;
    this.slotFreed?.();
    await Promise.all(this.consumers.map((c) => c.pause(true)));
    await this.loop;
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    const left = [...this.running.values()];
    await Promise.all(left.map((r) => r.job.moveToWait(r.token).catch((err: Error) => this.onError(err))));
    return left.length;
  }
}
