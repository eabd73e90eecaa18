import { readdirSync } from 'node:fs';
import { Ajv } from 'ajv';
import { Redis } from 'ioredis';
import { ResultStore, type StoredResult } from '../../src/shared/result-store.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_SCHEMA } from '../../src/worker/tasks/extract/contract-schema.js';
import {
  cliJson,
  readResults,
  startWorker,
  waitForBatch,
  type FleetEnv,
  type WorkerProcess,
} from '../helpers/fleet.js';
import { CONTRACTS } from '../helpers/paths.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

const PDFS = readdirSync(CONTRACTS).filter((f) => f.endsWith('.pdf'));

describe('the fleet on the 21 real contracts', () => {
  let redis: TestRedis;
  let env: FleetEnv;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    env = { url: redis.url, prefix: freshPrefix('contracts') };
    // Two generative workers share summarize/extract, two embedding workers share embed (a worker holds
    // one model, and a model serves one role).
    workers.push(
      ...(await Promise.all([
        startWorker(env, ['--role', 'generate', '--concurrency', '2']),
        startWorker(env, ['--role', 'generate', '--concurrency', '2']),
        startWorker(env, ['--role', 'embed', '--concurrency', '2']),
        startWorker(env, ['--role', 'embed', '--concurrency', '2']),
      ])),
    );
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await redis.stop();
  });

  it(
    'gives every document a result for all three tasks, and a resubmission creates no job',
    async () => {
      // Short chunks: the test model's attention cost grows with the square of the input, and embedding
      // reads every token of 21 long contracts (~0.9M tokens). Summaries read each contract's start only: the
      // map-reduce flow over a whole contract has its own test (summary-flow.test.ts).
      const submit = [
        'submit',
        CONTRACTS,
        '--task',
        'summarize',
        'extract',
        'embed',
        '--chunk-chars',
        '300',
        '--no-map-reduce',
      ];
      const submitted = await cliJson<{ batch: string; jobs: number; duplicates: number }>(env, submit);
      expect(PDFS.length).toBe(21);
      expect(submitted).toMatchObject({ jobs: 63, duplicates: 0 });

      const status = await waitForBatch(env, submitted.batch, 8 * 60_000);
      expect(status).toMatchObject({ total: 63, completed: 63, failed: 0 });

      const lines = (await readResults(env, submitted.batch)) as StoredResult[];
      expect(lines).toHaveLength(63);
      const validate = new Ajv({ strict: false }).compile(CONTRACT_SCHEMA);
      for (const line of lines) {
        expect(line.status).toBe('completed');
        const result = line.result!;
        expect(result.model).toBe('stories260K');
        expect(result.pages).toBeGreaterThan(0);
        expect(result.tokensIn).toBeGreaterThan(0);
        expect(result.timings.totalMs).toBeGreaterThan(0);
        if (result.task === 'extract')
          expect(validate(result.output.fields), JSON.stringify(validate.errors)).toBe(true);
        if (result.task === 'summarize') expect(typeof result.output.summary).toBe('string');
        if (result.task === 'embed') {
          expect(result.output.chunks.length).toBeGreaterThan(0);
          expect(result.output.chunks[0]!.vector).toHaveLength(result.output.dimensions);
        }
      }
      const documents = new Set(lines.map((l) => l.job.doc.name));
      expect(documents.size).toBe(21);
      await reportResultSizes(env, lines);

      // Every worker took part: the load is spread, not serialised on one.
      const completedBy = (w: WorkerProcess) => w.logs.filter((l) => l.msg === 'job completed').length;
      for (const w of workers) expect(completedBy(w)).toBeGreaterThan(0);

      const again = await cliJson<{ batch: string; jobs: number; duplicates: number }>(env, submit);
      expect(again).toMatchObject({ jobs: 0, duplicates: 63 });
      // The resubmitted batch reuses the stored results.
      expect(await cliJson(env, ['status', again.batch])).toMatchObject({ total: 63, completed: 63, done: true });
    },
    10 * 60_000,
  );
});

/** Prints what a stored result costs in Redis per task (the README's sizing figures come from here). */
async function reportResultSizes(env: FleetEnv, lines: StoredResult[]): Promise<void> {
  const redis = new Redis(env.url);
  try {
    const store = new ResultStore(redis, env.prefix, 60);
    const rows: Record<string, { results: number; avgBytes: number; avgChunks?: number; dims?: number }> = {};
    for (const task of ['summarize', 'extract', 'embed']) {
      const mine = lines.filter((l) => l.result?.task === task);
      const bytes = await Promise.all(mine.map((l) => store.memoryUsage(l.jobId)));
      rows[task] = { results: mine.length, avgBytes: Math.round(bytes.reduce((a, b) => a + b, 0) / mine.length) };
      if (task === 'embed') {
        const outputs = mine.flatMap((l) => (l.result?.task === 'embed' ? [l.result.output] : []));
        rows[task].avgChunks = Math.round(outputs.reduce((a, o) => a + o.chunks.length, 0) / mine.length);
        rows[task].dims = outputs[0]?.dimensions;
      }
    }
    console.table(rows);
  } finally {
    redis.disconnect();
  }
}
