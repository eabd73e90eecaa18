import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { batchResults, batchStatus, BatchNotFoundError, cancelBatch } from '../../src/producer/batch-control.js';
import { Producer } from '../../src/producer/producer.js';
import { loadProducerConfig } from '../../src/shared/config.js';
import { ConfigError } from '../../src/shared/errors.js';
import { runCli } from '../helpers/fleet.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

describe('producer against a real Redis', () => {
  let redis: TestRedis;
  let producer: Producer;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'producer-'));
  for (let i = 0; i < 30; i++)
    writeFileSync(path.join(dir, `doc-${String(i).padStart(2, '0')}.txt`), `contract number ${i}`);
  writeFileSync(path.join(dir, 'same-as-0.txt'), 'contract number 0');

  beforeAll(async () => {
    redis = await startRedis();
  });
  beforeEach(async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset until the first test's setup
    await producer?.close();
    producer = new Producer(loadProducerConfig({ REDIS_URL: redis.url, DOCFLEET_PREFIX: freshPrefix('producer') }));
  });
  afterAll(async () => {
    await producer.close();
    await redis.stop();
  });

  it('creates one job per document and task, counting identical content once', async () => {
    const r = await producer.submit([dir], { tasks: ['summarize', 'embed'] });
    expect(r).toMatchObject({ jobs: 60, duplicates: 2, refused: 0 });
    const waiting = await producer.queue('docfleet-generate-any').getJobCounts('waiting');
    expect(waiting.waiting).toBe(30);
    expect(await producer.queue('docfleet-embed-any').count()).toBe(30);
    expect(await batchStatus(producer, r.batch)).toMatchObject({ total: 62, pending: 62, done: false });
  });

  it('is idempotent: a second submission creates no job and still covers every document', async () => {
    const first = await producer.submit([dir], { tasks: ['extract'], tag: 'cpu' });
    const second = await producer.submit([dir], { tasks: ['extract'], tag: 'gpu' });
    expect(first.jobs).toBe(30);
    expect(second).toMatchObject({ jobs: 0, duplicates: 31 });
    expect((await batchStatus(producer, second.batch)).total).toBe(31);
    expect(await producer.queue('docfleet-generate-gpu').count()).toBe(0);
  });

  it('enqueues references the caller has already hashed as the same jobs a walk would create', async () => {
    const walked = await producer.submit([path.join(dir, 'doc-02.txt')], { tasks: ['summarize'] });
    const [job] = await producer.queue('docfleet-generate-any').getJobs(['waiting']);
    const ref = (job!.data as { doc: { uri: string; name: string; sha256: string; bytes: number } }).doc;
    const other = { ...ref, uri: '/elsewhere/doc-99.txt', name: 'doc-99.txt', sha256: 'ab'.repeat(32) };
    const bad = { ...ref, name: 'bad.txt', sha256: 'not-a-hash' };
    const refused: string[] = [];
    const r = await producer.submitDocuments([ref, other, bad], {
      tasks: ['summarize'],
      onRefused: (name) => refused.push(name),
    });
    expect(walked.jobs).toBe(1);
    expect(r).toMatchObject({ jobs: 1, duplicates: 1, refused: 1 });
    expect(refused).toEqual(['bad.txt']);
    expect((await batchStatus(producer, r.batch)).total).toBe(2);
  });

  it('checks references as submit checks what it walks, and records the roots given in the batch', async () => {
    const hash = (i: number) => i.toString(16).padStart(64, '0');
    const refs = [
      { uri: path.join(dir, 'doc-00.txt'), name: 'ok', sha256: hash(1), bytes: 17 },
      { uri: path.join(dir, 'secret'), name: 'no extension', sha256: hash(2), bytes: 10 },
      { uri: 'doc-00.txt', name: 'relative', sha256: hash(3), bytes: 10 },
      { uri: '/etc/passwd.txt', name: 'outside the roots', sha256: hash(4), bytes: 10 },
      { uri: 'https://docs.example.com/a.pdf', name: 'no URL prefix allowed', sha256: hash(5), bytes: 10 },
    ];
    const refused: Record<string, string> = {};
    const r = await producer.submitDocuments(refs, {
      tasks: ['summarize'],
      roots: [dir],
      onRefused: (name, reason) => (refused[name] = reason),
    });
    expect(r).toMatchObject({ jobs: 1, refused: 4 });
    expect(refused['no extension']).toMatch(/unsupported type/);
    expect(refused.relative).toMatch(/absolute path/);
    expect(refused['outside the roots']).toMatch(/outside the batch's roots/);
    expect(refused['no URL prefix allowed']).toMatch(/--allow-url-prefix/);
    expect((await producer.store.batch(r.batch))?.roots).toEqual([dir]);
  });

  it('counts a document repeated across flushes that run at once as one job', async () => {
    // The first flush takes 16 references; the next ones, sent before it is written, repeat them.
    const refs = Array.from({ length: 16 }, (_, i) => ({
      uri: `/docs/contract-${i}.pdf`,
      name: `contract-${i}.pdf`,
      sha256: i.toString(16).padStart(64, '0'),
      bytes: 1_000,
    }));
    const r = await producer.submitDocuments(Array.from({ length: 20 }, () => refs).flat(), { tasks: ['summarize'] });
    expect(r).toMatchObject({ jobs: 16, duplicates: 19 * 16, refused: 0 });
    expect(await producer.queue('docfleet-generate-any').count()).toBe(16);
    expect((await batchStatus(producer, r.batch)).total).toBe(320);
  });

  it('carries a reference to the document, never its bytes, with priority and attempts', async () => {
    const r = await producer.submit([path.join(dir, 'doc-01.txt')], { tasks: ['summarize'], tag: 'gpu', priority: 3 });
    const [job] = await producer.queue('docfleet-generate-gpu').getJobs(['prioritized']);
    expect(job!.data).toMatchObject({
      batchId: r.batch,
      task: 'summarize',
      doc: { uri: path.join(dir, 'doc-01.txt'), bytes: 17 },
    });
    expect(job!.opts).toMatchObject({ priority: 3, attempts: 3 });
  });

  it('cancels the queued jobs of a batch', async () => {
    const r = await producer.submit([dir], { tasks: ['summarize'] });
    expect(await cancelBatch(producer, r.batch)).toEqual({ cancelled: 30, running: 0 });
    expect(await batchStatus(producer, r.batch)).toMatchObject({ total: 31, cancelled: 31, pending: 0, done: true });
    const lines = [];
    for await (const line of batchResults(producer, r.batch)) lines.push(line);
    expect(lines.every((l) => l.status === 'cancelled')).toBe(true);
  });

  it('refuses bad task parameters before it enqueues anything, naming the parameter', async () => {
    await expect(
      producer.submit([dir], { tasks: ['summarize', 'extract'], params: { schema: { type: 'array' } } }),
    ).rejects.toThrow(/^invalid parameters for extract: params\.schema: the root must be/);
    await expect(producer.submit([dir], { tasks: ['summarize'], params: { maxTokens: 0 } })).rejects.toThrow(
      ConfigError,
    );
    // Parameters another task reads do not concern this one.
    const r = await producer.submit([path.join(dir, 'doc-01.txt')], {
      tasks: ['embed'],
      params: { schema: { type: 'array' } },
    });
    expect(r.jobs).toBe(1);
  });

  it('submit exits 2 with one line for a --schema file that is not a usable schema', async () => {
    const env = { url: redis.url, prefix: freshPrefix('producer') };
    const schemas = mkdtempSync(path.join(os.tmpdir(), 'schemas-'));
    const notJson = path.join(schemas, 'not-json.schema');
    writeFileSync(notJson, '{ "type": ');
    const notObject = path.join(schemas, 'array.schema.json');
    writeFileSync(notObject, JSON.stringify({ type: 'array', items: { type: 'string' } }));
    const doc = path.join(dir, 'doc-01.txt');
    for (const file of [notJson, notObject, path.join(schemas, 'missing.json')]) {
      const r = await runCli(env, ['submit', doc, '--task', 'extract', '--schema', file]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^docfleet: .*schema/);
    }
  });

  it('names an unknown batch', async () => {
    await expect(batchStatus(producer, 'nope')).rejects.toThrow(BatchNotFoundError);
  });
});
