import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { StoredResult } from '../../src/shared/result-store.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cliJson,
  readResults,
  runCli,
  startWorker,
  waitFor,
  waitForBatch,
  type FleetEnv,
  type WorkerProcess,
} from '../helpers/fleet.js';
import { CONTRACTS } from '../helpers/paths.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

/** The corpus's longest contract: 106 pages, ~290,000 characters. */
const LONG = path.join(CONTRACTS, '03_service_verizon.pdf');
const SHORTER = path.join(CONTRACTS, '05_development_aimmune.pdf');
/** A 1024-token context holds ~2,000 characters of the test model's tokens: the contract becomes ~150 parts. */
const WORKER_ARGS = ['--role', 'generate', '--concurrency', '2', '--context-size', '1024', '--lock-ms', '6000'];

const completedParts = (w: WorkerProcess) => w.logs.filter((l) => l.msg === 'job completed' && l.part !== undefined);

describe('map-reduce summaries of long documents as BullMQ flows', () => {
  let redis: TestRedis;
  let env: FleetEnv;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    await redis.stop();
  });

  it(
    'spreads a 106-page contract over two workers, survives losing one, and cites its pages',
    async () => {
      env = { url: redis.url, prefix: freshPrefix('flow') };
      const [a, b] = await Promise.all([startWorker(env, WORKER_ARGS), startWorker(env, WORKER_ARGS)]);
      workers.push(a, b);
      const { batch } = await cliJson<{ batch: string }>(env, [
        'submit',
        LONG,
        '--task',
        'summarize',
        '--max-tokens',
        '64',
      ]);

      // Both workers summarise parts of the one document.
      await waitFor(
        () => completedParts(a).length >= 3 && completedParts(b).length >= 3,
        5 * 60_000,
        'parts completed on both workers',
      );
      const flowStarts = [a, b].flatMap((w) => w.logs.filter((l) => String(l.msg).startsWith('document too long')));
      expect(flowStarts).toHaveLength(1);
      const parts = flowStarts[0]!.parts as number;
      expect(parts).toBeGreaterThan(20);

      // Lose one worker mid-flow (its running parts stall and go to the other); the rest finishes the tree.
      const beforeKill = completedParts(a).length;
      await a.stop('SIGKILL');
      const status = await waitForBatch(env, batch, 10 * 60_000);
      expect(status).toMatchObject({ total: 1, completed: 1, failed: 0 });
      expect(beforeKill).toBeLessThan(parts);

      const [line] = (await readResults(env, batch)) as StoredResult[];
      const result = line?.result;
      if (result?.task !== 'summarize') throw new Error(`no summary: ${JSON.stringify(line)}`);
      expect(result.pages).toBe(106);
      expect(result.output.parts).toBe(parts);
      expect(result.output.levels).toBeGreaterThanOrEqual(1);
      expect(result.output.summary.length).toBeGreaterThan(0);
      // Every chunk is cited once with its pages, in order, and the whole document was read.
      const sources = result.output.sources;
      expect(sources.map((s) => s.chunk)).toEqual([...Array(parts).keys()]);
      expect(sources[0]!.pageStart).toBe(1);
      expect(sources.at(-1)!.pageEnd).toBe(106);
      expect(result.output.coveredChars).toBeGreaterThan(0.95 * result.chars);
      // The parent read the document once: no worker restarted it.
      expect([a, b].flatMap((w) => w.logs.filter((l) => String(l.msg).startsWith('document too long')))).toHaveLength(
        1,
      );
      // Parts of the killed worker were taken over: the survivor did the rest of the map round.
      expect(completedParts(b).filter((l) => l.level === 0).length + beforeKill).toBeGreaterThanOrEqual(parts);
      expect(result.tokensIn).toBeGreaterThan(result.chars / 4);
    },
    15 * 60_000,
  );

  it(
    'cancelling the batch cancels the whole tree',
    async () => {
      const survivor = workers[1]!;
      const { batch } = await cliJson<{ batch: string }>(env, [
        'submit',
        SHORTER,
        '--task',
        'summarize',
        '--max-tokens',
        '64',
      ]);
      await waitFor(
        () => survivor.logs.some((l) => l.msg === 'job waiting for its parts' && l.batch === batch),
        2 * 60_000,
        'the flow to start',
      );
      expect((await runCli(env, ['cancel', batch])).code).toBe(0);
      const status = await waitForBatch(env, batch, 2 * 60_000);
      expect(status).toMatchObject({ total: 1, cancelled: 1, completed: 0 });
      // No part of the cancelled document is left for a worker to run.
      const connection = new Redis(env.url, { maxRetriesPerRequest: null });
      const queue = new Queue('docfleet-generate-any', { connection, prefix: env.prefix });
      try {
        await waitFor(
          async () => (await queue.getJobCounts('wait', 'active', 'prioritized', 'waiting-children')).wait === 0,
          60_000,
          'the queue to empty',
        );
        const counts = await queue.getJobCounts('wait', 'active', 'waiting-children');
        expect(counts).toMatchObject({ wait: 0, 'waiting-children': 0 });
      } finally {
        await queue.close();
        connection.disconnect();
      }
    },
    5 * 60_000,
  );
});
