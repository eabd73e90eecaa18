import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { QueueConsumer, type GiveUpReason } from '../../src/worker/queue/queue-consumer.js';
import { connectTo, freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

const LOCK_MS = 1_000;

/**
 * What QueueConsumer relies on in BullMQ beyond its documented use. When a BullMQ release changes any of it, this
 * test fails, naming it: read queue-consumer.ts before widening the `~` range of `bullmq` in package.json.
 */
describe('QueueConsumer: the BullMQ internals it relies on', () => {
  let redis: TestRedis;
  let connection: Redis;
  let queue: Queue;
  let consumer: QueueConsumer | undefined;
  let prefix: string;

  beforeAll(async () => {
    redis = await startRedis();
  });
  beforeEach(() => {
    prefix = freshPrefix('consumer');
    connection = connectTo(redis.url);
    queue = new Queue('q', { connection, prefix });
  });
  afterEach(async () => {
    await consumer?.close(true);
    consumer = undefined;
    await queue.close();
    connection.disconnect();
  });
  afterAll(async () => {
    await redis.stop();
  });

  function consume(processor: (job: Job, token?: string, signal?: AbortSignal) => Promise<unknown>): QueueConsumer {
    consumer = new QueueConsumer('q', processor, {
      connection,
      prefix,
      lockDuration: LOCK_MS,
      stalledInterval: 60_000,
    });
    consumer.on('error', () => undefined);
    return consumer;
  }

  it('finds the members it uses on BullMQ’s Worker', () => {
    const proto = Worker.prototype as unknown as Record<string, unknown>;
    for (const name of ['startStalledCheckTimer', 'extendJobLocks', 'callProcessJob', 'processJob', 'cancelJob'])
      expect(typeof proto[name], `Worker.prototype.${name}`).toBe('function');
    const c = consume(() => Promise.resolve(undefined)) as unknown as Record<string, unknown>;
    expect(typeof c.blockUntil, 'Worker#blockUntil (private)').toBe('number');
    expect(typeof (c.lockManager as { start?: unknown } | undefined)?.start, 'Worker#lockManager.start').toBe(
      'function',
    );
  });

  it('reads when the next delayed job is due from the last empty fetch, and the marker key', async () => {
    const c = consume(() => Promise.resolve(undefined));
    await c.waitUntilReady();
    const due = Date.now() + 60_000;
    await queue.add('later', {}, { delay: due - Date.now() });
    expect(await c.getNextJob('t1', { block: false })).toBeUndefined();
    expect(Math.abs(c.delayedUntil - due)).toBeLessThan(2_000);
    expect(c.markerKey).toBe(`${prefix}:q:marker`);
    expect(await connection.exists(c.markerKey)).toBe(1);
  });

  /** Starts a job on a consumer whose processor runs until its signal aborts. */
  async function runUntilAborted() {
    let signal: AbortSignal | undefined;
    const c = consume(
      (_job, _token, s) =>
        new Promise((resolve) => {
          signal = s;
          s!.addEventListener('abort', () => resolve(undefined));
        }),
    );
    await c.waitUntilReady();
    await c.startBackground();
    await queue.add('one', {});
    const job = await c.getNextJob('mine', { block: false });
    const running = c.processJob(job, 'mine', () => false);
    return { job, running, signal: () => signal };
  }

  it('renews the locks of running jobs, and aborts a job whose lock another worker took', async () => {
    const { job, running, signal } = await runUntilAborted();
    // Renewed: the lock outlives its first duration.
    await new Promise((r) => setTimeout(r, LOCK_MS * 1.5));
    expect(await connection.get(`${prefix}:q:${job.id}:lock`)).toBe('mine');
    expect(signal()?.aborted).toBe(false);
    // Another worker's lock now: the renewal is refused and cannot be kept.
    await connection.set(`${prefix}:q:${job.id}:lock`, 'theirs', 'PX', 60_000);
    await running;
    expect(signal()?.reason as GiveUpReason).toBe('lock-lost');
  });

  it('aborts a running job whose lock renewal goes unanswered for most of the lock', async () => {
    const { running, signal } = await runUntilAborted();
    // Redis answers nobody for longer than the lock, as in an outage.
    await connection.call('CLIENT', 'PAUSE', String(LOCK_MS * 2), 'ALL');
    await new Promise((r) => setTimeout(r, LOCK_MS));
    expect(signal()?.reason as GiveUpReason).toBe('lock-lost');
    await running;
  });

  it('keeps a lock that expired while the job is still active, and not one another worker holds', async () => {
    const c = consume(() => Promise.resolve(undefined));
    await c.waitUntilReady();
    await queue.add('one', {});
    const job = await c.getNextJob('mine', { block: false });
    const lockKey = `${prefix}:q:${job.id}:lock`;
    await connection.del(lockKey);
    expect(await c.keepLock(job.id!, 'mine')).toBe(true);
    expect(await connection.get(lockKey)).toBe('mine');
    await connection.set(lockKey, 'theirs');
    expect(await c.keepLock(job.id!, 'mine')).toBe(false);
    await connection.del(lockKey);
    await connection.lrem(`${prefix}:q:active`, 0, job.id!);
    expect(await c.keepLock(job.id!, 'mine')).toBe(false);
  });
});
