import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  batchResults,
  BatchNotFoundError,
  batchStatus,
  cancelBatch,
  recentBatches,
  retryBatch,
  type ResultLine,
} from '../../src/producer/batch-control.js';
import { Producer } from '../../src/producer/producer.js';
import { loadProducerConfig } from '../../src/shared/config.js';
import { jobIdFor } from '../../src/shared/job-id.js';
import type { DocumentRef, JobData, JobResult } from '../../src/shared/job-types.js';
import { cliJson, readResults, startWorker, waitForBatch, type FleetEnv } from '../helpers/fleet.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

/** A reference as a document store would hand it over: no file behind it, the workers are simulated. */
function ref(i: number, content = i): DocumentRef {
  return { uri: `/docs/doc-${i}.txt`, name: `doc-${i}.txt`, sha256: content.toString(16).padStart(64, '0'), bytes: 10 };
}

const RESULT: JobResult = {
  task: 'summarize',
  model: 'test',
  tokensIn: 1,
  tokensOut: 1,
  pages: 1,
  chars: 1,
  timings: { fetchMs: 0, parseMs: 0, inferMs: 0, totalMs: 0 },
  output: { summary: 's', truncated: false, coveredChars: 1, sources: [], parts: 0, levels: 0 },
};

describe('batch bookkeeping', () => {
  let redis: TestRedis;
  let producer: Producer;

  beforeAll(async () => {
    redis = await startRedis();
  });
  beforeEach(() => {
    producer = new Producer(loadProducerConfig({ REDIS_URL: redis.url, DOCFLEET_PREFIX: freshPrefix('books') }));
  });
  afterEach(async () => {
    await producer.close();
  });
  afterAll(async () => {
    await redis.stop();
  });

  /** What a worker does when a job ends: one outcome, whatever batches cover the job. */
  async function finish(doc: DocumentRef, status: 'completed' | 'failed' = 'completed') {
    const id = jobIdFor(doc.sha256, 'summarize', {});
    const data: JobData = { batchId: 'any', doc, task: 'summarize', params: {} };
    if (status === 'completed') await producer.store.saveCompleted(id, data, RESULT);
    else await producer.store.saveFailed(id, data, { category: 'no-text', message: 'empty', attempts: 1 });
  }

  async function lines(batch: string): Promise<ResultLine[]> {
    const all: ResultLine[] = [];
    for await (const line of batchResults(producer, batch)) all.push(line);
    return all;
  }

  it('gives byte-identical files one job and each its own result line', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'books-'));
    writeFileSync(path.join(dir, 'a.txt'), 'the same contract');
    writeFileSync(path.join(dir, 'b.txt'), 'the same contract');
    writeFileSync(path.join(dir, 'c.txt'), 'another contract');
    const r = await producer.submit([dir], { tasks: ['summarize'], name: 'twins' });
    expect(r).toMatchObject({ jobs: 2, duplicates: 1, refused: 0 });
    expect(await producer.queue('docfleet-generate-any').count()).toBe(2);
    expect(await batchStatus(producer, r.batch)).toMatchObject({ name: 'twins', total: 3, pending: 3 });

    const jobs = await producer.queue('docfleet-generate-any').getJobs(['waiting']);
    for (const job of jobs) await finish((job.data as JobData).doc);
    expect(await batchStatus(producer, r.batch)).toMatchObject({ total: 3, completed: 3, pending: 0, done: true });

    const out = await lines(r.batch);
    expect(out.map((l) => [l.job?.doc.name, l.status])).toEqual([
      [path.join(dir, 'a.txt'), 'completed'],
      [path.join(dir, 'b.txt'), 'completed'],
      [path.join(dir, 'c.txt'), 'completed'],
    ]);
    expect(out[0]!.jobId).toBe(out[1]!.jobId);
    expect(out[0]!.job?.doc.uri).not.toBe(out[1]!.job?.doc.uri);
  });

  it('gets a result line per file from a real worker, and counters that end the batch', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'books-worker-'));
    writeFileSync(path.join(dir, 'a.txt'), 'Lily went to the park with Tom. They found a red ball.');
    writeFileSync(path.join(dir, 'copy-of-a.txt'), 'Lily went to the park with Tom. They found a red ball.');
    const env: FleetEnv = { url: redis.url, prefix: producer.config.prefix };
    const worker = await startWorker(env, ['--concurrency', '1']);
    try {
      const submitted = await cliJson<{ batch: string; jobs: number }>(env, [
        'submit',
        '--task',
        'summarize',
        '--max-tokens',
        '8',
        dir,
      ]);
      expect(submitted.jobs).toBe(1);
      expect(await waitForBatch(env, submitted.batch, 120_000)).toMatchObject({ total: 2, completed: 2, done: true });
      const out = (await readResults(env, submitted.batch)) as ResultLine[];
      expect(out.map((l) => [path.basename(l.job!.doc.name), l.status])).toEqual([
        ['a.txt', 'completed'],
        ['copy-of-a.txt', 'completed'],
      ]);
    } finally {
      await worker.stop();
    }
  });

  it('records a job BullMQ fails for stalling too often, so that its batch ends', async () => {
    const env: FleetEnv = { url: redis.url, prefix: producer.config.prefix };
    const { batch } = await producer.submitDocuments([ref(7)], { tasks: ['summarize'] });
    const jobId = jobIdFor(ref(7).sha256, 'summarize', {});
    // What BullMQ's stalled check leaves on a job past maxStalledCount: the next worker to take it fails it.
    await producer.redis.hset(
      `${env.prefix}:docfleet-generate-any:${jobId}`,
      'defa',
      'job stalled more than allowable limit',
    );
    const worker = await startWorker(env, ['--concurrency', '1']);
    try {
      expect(await waitForBatch(env, batch, 60_000)).toMatchObject({ total: 1, failed: 1, done: true });
      const [line] = await lines(batch);
      expect(line).toMatchObject({ status: 'failed', error: { category: 'stalled' } });
    } finally {
      await worker.stop();
    }
  });

  it('keeps the counters of every batch that covers a job, across resubmission and retry', async () => {
    const first = await producer.submitDocuments([ref(1), ref(2)], { tasks: ['summarize'] });
    await finish(ref(1));
    // Resubmitted with a document already done, one still queued, one new and one given twice.
    const second = await producer.submitDocuments([ref(1), ref(2), ref(3), ref(4, 3)], { tasks: ['summarize'] });
    expect(second).toMatchObject({ jobs: 1, duplicates: 3 });
    expect(await batchStatus(producer, first.batch)).toMatchObject({ total: 2, completed: 1, pending: 1 });
    expect(await batchStatus(producer, second.batch)).toMatchObject({ total: 4, completed: 1, pending: 3 });

    await finish(ref(2));
    await finish(ref(3), 'failed');
    expect(await batchStatus(producer, first.batch)).toMatchObject({ completed: 2, pending: 0, done: true });
    expect(await batchStatus(producer, second.batch)).toMatchObject({ completed: 2, failed: 2, done: true });

    // A retry takes the failure off the counters; the new outcome puts it back, once.
    const job = await producer.queue('docfleet-generate-any').getJob(jobIdFor(ref(3).sha256, 'summarize', {}));
    await job!.moveToFailed(new Error('gave up'), '0', false).catch(() => undefined);
    expect(await retryBatch(producer, second.batch)).toEqual({ retried: 1 });
    expect(await batchStatus(producer, second.batch)).toMatchObject({ completed: 2, failed: 0, pending: 2 });
    await finish(ref(3));
    expect(await batchStatus(producer, second.batch)).toMatchObject({ completed: 4, failed: 0, done: true });
    // Recording the same outcome again (a job run twice) does not count it twice.
    await finish(ref(3));
    expect(await batchStatus(producer, second.batch)).toMatchObject({ total: 4, completed: 4 });
  });

  it('cancels and streams results of batches larger than one page, leaving shared jobs alone', async () => {
    const shared = await producer.submitDocuments([ref(5)], { tasks: ['summarize'] });
    // 1,200 documents (pages of 500), one of them given twice and one shared with the batch above.
    const docs = Array.from({ length: 1_200 }, (_, i) => ref(100 + i));
    docs[700] = ref(5);
    docs[1_100] = ref(1_100, 100);
    const r = await producer.submitDocuments(docs, { tasks: ['summarize'], name: 'large' });
    expect(r).toMatchObject({ jobs: 1_198, duplicates: 2 });

    expect(await cancelBatch(producer, r.batch)).toEqual({ cancelled: 1_198, running: 0 });
    expect(await producer.queue('docfleet-generate-any').count()).toBe(1);
    expect(await batchStatus(producer, r.batch)).toMatchObject({ total: 1_200, cancelled: 1_199, pending: 1 });
    expect(await batchStatus(producer, shared.batch)).toMatchObject({ total: 1, pending: 1 });

    const out = await lines(r.batch);
    expect(out).toHaveLength(1_200);
    expect(out.map((l) => l.job?.doc.name)).toEqual(docs.map((d) => d.name));
    expect(out.filter((l) => l.status === 'cancelled')).toHaveLength(1_199);
    expect(out[700]!.status).toBe('waiting');

    const listed = await recentBatches(producer, 10);
    expect(listed.map((b) => [b.meta.id, b.meta.name, b.counts.lines])).toEqual([
      [r.batch, 'large', 1_200],
      [shared.batch, undefined, 1],
    ]);
  });

  it('reads a batch kept in the earlier one-string form as no batch, without failing on its type', async () => {
    await producer.redis.set(producer.store.keys.batch('20260101-old'), JSON.stringify({ id: '20260101-old' }));
    expect(await producer.store.batch('20260101-old')).toBeUndefined();
    await expect(batchStatus(producer, '20260101-old')).rejects.toThrow(BatchNotFoundError);
  });
});
