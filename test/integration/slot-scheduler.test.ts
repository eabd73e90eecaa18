import { setTimeout as abortableSleep } from 'node:timers/promises';
import { DelayedError, Queue, WaitingChildrenError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { QueueConsumer } from '../../src/worker/queue/queue-consumer.js';
import { SlotScheduler } from '../../src/worker/queue/slot-scheduler.js';
import { connectTo, freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

/** The worker's scheduler against a real Redis: two queues (a tag's and `any`), one pool of slots. */
describe('SlotScheduler', () => {
  let redis: TestRedis;
  let prefix: string;
  let connection: Redis;
  let producerConnection: Redis;
  let queues: Queue[] = [];
  let consumers: QueueConsumer[] = [];
  let scheduler: SlotScheduler | undefined;
  const errors: Error[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  beforeEach(() => {
    prefix = freshPrefix('sched');
    connection = connectTo(redis.url);
    producerConnection = connectTo(redis.url);
    queues = ['tag', 'any'].map((name) => new Queue(name, { connection: producerConnection, prefix }));
    errors.length = 0;
  });
  afterEach(async () => {
    await scheduler?.stop(0);
    scheduler = undefined;
    await Promise.all(consumers.map((c) => c.close(true)));
    consumers = [];
    await Promise.all(queues.map((q) => q.close()));
    connection.disconnect();
    producerConnection.disconnect();
  });
  afterAll(async () => {
    await redis.stop();
  });

  type Processor = (job: Job, token: string | undefined, signal?: AbortSignal) => Promise<unknown>;
  async function start(slots: number, processor: Processor, drainDelay = 5, probeMs?: number): Promise<SlotScheduler> {
    consumers = ['tag', 'any'].map(
      (name) =>
        new QueueConsumer(name, processor, {
          connection,
          prefix,
          lockDuration: 5_000,
          stalledInterval: 2_500,
          drainDelay,
        }),
    );
    for (const c of consumers) {
      c.on('error', (err) => errors.push(err));
      await c.waitUntilReady();
      await c.startBackground();
    }
    scheduler = new SlotScheduler(consumers, slots, (err) => errors.push(err), { connection, probeMs });
    scheduler.start();
    return scheduler;
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  async function until(check: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(5);
    }
  }

  it('wakes an idle worker at once for a job on either queue', async () => {
    const started = new Map<string, number>();
    await start(2, (job) => {
      started.set(job.id!, Date.now());
      return Promise.resolve();
    });
    // Let it settle into the blocking wait on both markers.
    await sleep(300);
    for (const [i, q] of queues.entries()) {
      const added = Date.now();
      await q.add('x', {}, { jobId: `wake-${i}` });
      await until(() => started.has(`wake-${i}`), 3_000, `the job on ${q.name}`);
      expect(started.get(`wake-${i}`)! - added).toBeLessThan(300);
      await sleep(200);
    }
    expect(errors).toEqual([]);
  });

  it('never runs more jobs than slots, streams a busy queue and serves both queues', async () => {
    let running = 0;
    let most = 0;
    const order: string[] = [];
    await start(3, async (job) => {
      running++;
      most = Math.max(most, running);
      await sleep(2);
      order.push(job.queueName);
      running--;
    });
    await queues[1]!.addBulk(Array.from({ length: 150 }, (_, i) => ({ name: 'x', data: { i } })));
    await queues[0]!.addBulk(Array.from({ length: 30 }, (_, i) => ({ name: 'x', data: { i } })));
    await until(() => order.length === 180, 20_000, 'all jobs');
    expect(most).toBeLessThanOrEqual(3);
    expect(most).toBe(3);
    // The tag queue's 30 jobs are not left until the 150 on `any` are done.
    const lastTag = order.lastIndexOf('tag');
    expect(lastTag).toBeLessThan(150);
    expect(errors).toEqual([]);
  });

  it('looks at the other queue without taking a streaming slot off its queue, and serves it within a probe', async () => {
    const done: string[] = [];
    const started = new Map<string, number>();
    await start(
      2,
      async (job) => {
        started.set(job.id!, Date.now());
        await sleep(5);
        done.push(job.queueName);
      },
      5,
      50,
    );
    await queues[1]!.addBulk(Array.from({ length: 400 }, (_, i) => ({ name: 'x', data: { i } })));
    await until(() => done.length >= 20, 10_000, 'the slots to stream');
    // Every slot now takes its next job with the completion of the last (fetch-next): no separate fetch,
    // though the empty tag queue is looked at every 50 ms.
    const fetches = consumers.map((c) => vi.spyOn(c, 'getNextJob'));
    await sleep(400);
    const calls = fetches.reduce((n, f) => n + f.mock.calls.length, 0);
    expect(done.length).toBeLessThan(350);
    expect(calls).toBeLessThanOrEqual(2);
    const added = Date.now();
    await queues[0]!.add('x', {}, { jobId: 'tagged' });
    await until(() => started.has('tagged'), 3_000, 'the tagged job');
    expect(started.get('tagged')! - added).toBeLessThan(250);
    expect(errors).toEqual([]);
  });

  it('picks up delayed jobs when they are due, and retries after backoff', async () => {
    const runs: Array<{ id: string; at: number }> = [];
    await start(2, (job) => {
      runs.push({ id: job.id!, at: Date.now() });
      if (job.id === 'flaky' && job.attemptsMade === 0) throw new Error('transient');
      return Promise.resolve();
    });
    await sleep(200);
    const t0 = Date.now();
    await queues[0]!.add('x', {}, { jobId: 'later', delay: 1_200 });
    await queues[1]!.add('x', {}, { jobId: 'flaky', attempts: 2, backoff: { type: 'fixed', delay: 700 } });
    await until(
      () => runs.filter((r) => r.id === 'flaky').length === 2 && runs.some((r) => r.id === 'later'),
      6_000,
      'delayed and retried jobs',
    );
    const later = runs.find((r) => r.id === 'later')!.at - t0;
    expect(later).toBeGreaterThanOrEqual(1_150);
    expect(later).toBeLessThan(1_200 + 400);
    const [first, second] = runs.filter((r) => r.id === 'flaky');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(650);
    expect(second!.at - first!.at).toBeLessThan(700 + 400);
    expect(await queues[1]!.getJobState('flaky')).toBe('completed');
  });

  it('frees the slot of a job that waits for its children or is delayed, and finishes it later', async () => {
    const seen: string[] = [];
    await start(1, async (job: Job<{ forked?: boolean; snoozed?: boolean }>, token) => {
      seen.push(`${job.name}:${job.attemptsStarted}`);
      if (job.name === 'parent' && !job.data.forked) {
        // Fans out as a summary flow does: adds a child, then waits for it. One slot: the child can only
        // run because the parent gave its slot back.
        await queues[0]!.add('child', {}, { parent: { id: job.id!, queue: job.queueQualifiedName } });
        await job.updateData({ forked: true });
        if (await job.moveToWaitingChildren(token!)) throw new WaitingChildrenError();
      }
      if (job.name === 'snooze' && !job.data.snoozed) {
        await job.updateData({ snoozed: true });
        await job.moveToDelayed(Date.now() + 300, token);
        throw new DelayedError();
      }
      return 'ok';
    });
    await queues[1]!.add('parent', { forked: false }, { jobId: 'parent' });
    await queues[1]!.add('snooze', { snoozed: false }, { jobId: 'snooze' });
    const twice = (name: string) => seen.filter((s) => s.startsWith(`${name}:`)).length === 2;
    await until(() => twice('parent') && twice('snooze'), 8_000, 'parent and snoozed job to run twice').catch(
      (err: unknown) => {
        throw new Error(
          `${err instanceof Error ? err.message : String(err)}: ${seen.join(' ')} ${errors.map((e) => e.message).join('; ')}`,
        );
      },
    );
    await until(() => scheduler!.busy === 0, 2_000, 'slots to free');
    expect(seen.indexOf('child:1')).toBeGreaterThan(seen.indexOf('parent:1'));
    expect(seen.indexOf('child:1')).toBeLessThan(seen.lastIndexOf('parent:2'));
    expect(await queues[1]!.getJobState('parent')).toBe('completed');
    expect(await queues[1]!.getJobState('snooze')).toBe('completed');
    expect(errors).toEqual([]);
  });

  it('on stop lets running jobs finish within the grace period, hands back the rest and ends their runs', async () => {
    const finished: string[] = [];
    await start(2, async (job, _token, signal) => {
      await abortableSleep((job.data as { ms: number }).ms, undefined, { signal });
      finished.push(job.id!);
    });
    await queues[1]!.add('x', { ms: 100 }, { jobId: 'short' });
    await queues[1]!.add('x', { ms: 5_000 }, { jobId: 'long' });
    await until(() => scheduler!.busy === 2, 3_000, 'both jobs to start');
    const handedBack = await scheduler!.stop(800);
    expect(handedBack).toBe(1);
    expect(scheduler!.busy).toBe(0);
    expect(finished).toEqual(['short']);
    expect(await queues[1]!.getJobState('long')).toBe('waiting');
    expect(await queues[1]!.getJobState('short')).toBe('completed');
  });
});
