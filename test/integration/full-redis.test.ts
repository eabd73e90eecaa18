import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchStatus } from '../../src/producer/batch-control.js';
import { Producer } from '../../src/producer/producer.js';
import { loadProducerConfig } from '../../src/shared/config.js';
import { jobIdFor } from '../../src/shared/job-id.js';
import type { DocumentRef, JobData } from '../../src/shared/job-types.js';
import { RedisOutOfMemoryError } from '../../src/shared/redis-out-of-memory.js';
import { runCli, type FleetEnv } from '../helpers/fleet.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

function refs(from: number, count: number): DocumentRef[] {
  return Array.from({ length: count }, (_, k) => ({
    uri: `/docs/contract-${from + k}.pdf`,
    name: `contract-${from + k}.pdf`,
    sha256: (from + k).toString(16).padStart(64, '0'),
    bytes: 1_000,
  }));
}

describe('a Redis at maxmemory with noeviction', () => {
  let redis: TestRedis;
  let admin: Redis;
  let producer: Producer;
  const env: FleetEnv = { url: '', prefix: freshPrefix('full') };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'full-'));
  for (let i = 0; i < 3; i++) writeFileSync(path.join(dir, `doc-${i}.txt`), `contract number ${i}`);

  beforeAll(async () => {
    redis = await startRedis();
    env.url = redis.url;
    admin = new Redis(redis.url);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    producer = new Producer(loadProducerConfig({ REDIS_URL: env.url, DOCFLEET_PREFIX: env.prefix }));
  });
  /* eslint-disable @typescript-eslint/no-unnecessary-condition -- a hook above may have failed before setting all of these; what was started is still stopped */
  afterAll(async () => {
    await producer?.close();
    admin?.disconnect();
    await redis?.stop();
  });
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */

  const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))![1]);

  /** Everything a batch leaves in Redis, to compare before and after a refused submission. */
  async function footprint() {
    const keys = async (pattern: string) => (await admin.keys(`${env.prefix}:${pattern}`)).length;
    return {
      batches: await admin.zcard(`${env.prefix}:batches`),
      batchKeys: await keys('batch:*'),
      registrations: await keys('job-batches:*'),
      queued: await producer.queue('docfleet-generate-any').count(),
    };
  }

  it('refuses a submission with one line and writes nothing, then accepts it once memory is freed', async () => {
    await producer.submitDocuments(refs(0, 300), { tasks: ['summarize'] });
    const before = await footprint();
    expect(before).toMatchObject({ batches: 1, queued: 300 });

    await admin.config('SET', 'maxmemory', String(Math.floor((await usedMemory()) / 2)));
    const refused = await runCli(env, ['submit', '--task', 'summarize', '--', dir]);
    expect(refused.code).toBe(3);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^docfleet: Redis is out of memory/);
    expect(await footprint()).toEqual(before);

    await admin.config('SET', 'maxmemory', '0');
    const accepted = await runCli(env, ['submit', '--task', 'summarize', '--', dir]);
    expect(accepted.code).toBe(0);
    expect(await batchStatus(producer, accepted.stdout.trim())).toMatchObject({ total: 3, pending: 3 });
    expect((await footprint()).queued).toBe(303);
  });

  it('rolls back a submission that fills Redis part way through', async () => {
    const before = await footprint();
    await admin.config('SET', 'maxmemory', String((await usedMemory()) + 400_000));
    try {
      await expect(producer.submitDocuments(refs(10_000, 5_000), { tasks: ['summarize'] })).rejects.toThrow(
        RedisOutOfMemoryError,
      );
      expect(await footprint()).toEqual(before);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    const again = await producer.submitDocuments(refs(10_000, 5_000), { tasks: ['summarize'] });
    expect(again).toMatchObject({ jobs: 5_000 });
  });

  it('refuses an outcome as a whole: the earlier one and the counters stay as they were', async () => {
    const [doc] = refs(20_000, 1);
    const { batch } = await producer.submitDocuments([doc!], { tasks: ['summarize'] });
    const jobId = jobIdFor(doc!.sha256, 'summarize', {});
    const data: JobData = { batchId: batch, doc: doc!, task: 'summarize', params: {} };
    await producer.store.saveFailed(jobId, data, { category: 'fetch-failed', message: 'timeout', attempts: 3 });
    await admin.config('SET', 'maxmemory', String(Math.floor((await usedMemory()) / 2)));
    try {
      await expect(producer.store.saveCancelled(jobId, data)).rejects.toThrow(/OOM/);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    const [stored] = await producer.store.get([jobId]);
    expect(stored).toMatchObject({ status: 'failed', error: { message: 'timeout' } });
    expect(await batchStatus(producer, batch)).toMatchObject({ failed: 1, cancelled: 0 });
  });
});
