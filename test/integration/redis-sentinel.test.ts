import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cliJson,
  readResults,
  startWorker,
  waitFor,
  waitForBatch,
  type FleetEnv,
  type WorkerProcess,
} from '../helpers/fleet.js';
import { freshPrefix, startSentinelGroup, type SentinelGroup } from '../helpers/redis.js';

const DOCUMENTS = 8;

describe('a fleet on Redis Sentinel', () => {
  let group: SentinelGroup;
  let env: FleetEnv;
  let docs: string;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    group = await startSentinelGroup();
    env = {
      // With Sentinels the URL's host and port are not used: the primary is asked for by name.
      url: 'redis://127.0.0.1',
      prefix: freshPrefix('sentinel'),
      extra: { REDIS_SENTINELS: group.sentinels, REDIS_SENTINEL_NAME: group.name },
    };
    docs = mkdtempSync(path.join(tmpdir(), 'docfleet-sentinel-'));
    for (let i = 1; i <= DOCUMENTS; i++)
      writeFileSync(
        path.join(docs, `clause-${i}.txt`),
        `Clause ${i}. The buyer pays invoice ${i} within ${i * 7} days.\n`,
      );
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    await group.stop();
  });

  it(
    'fails over when the primary is killed mid-batch; every document gets one result',
    async () => {
      const args = ['--role', 'generate', '--concurrency', '2', '--lock-ms', '3000'];
      workers.push(await startWorker(env, args), await startWorker(env, args));
      const before = await group.primaryAddress();
      expect(before).toBe(`127.0.0.1:${group.primary.port}`);
      const { batch, jobs } = await cliJson<{ batch: string; jobs: number }>(env, [
        'submit',
        docs,
        '--task',
        'summarize',
        '--no-map-reduce',
        '--max-tokens',
        '24',
      ]);
      expect(jobs).toBe(DOCUMENTS);
      await waitFor(
        () => workers.some((w) => w.logs.some((l) => l.msg === 'job completed')),
        60_000,
        'a first job to complete',
      );

      await group.primary.stop();
      await waitFor(
        async () => (await group.primaryAddress().catch(() => before)) !== before,
        30_000,
        'the Sentinel to promote the replica',
      );
      expect(await group.primaryAddress()).toBe(`127.0.0.1:${group.replica.port}`);

      const status = await waitForBatch(env, batch, 3 * 60_000);
      expect(status).toMatchObject({ total: DOCUMENTS, completed: DOCUMENTS, failed: 0 });
      const lines = await readResults(env, batch);
      expect(lines).toHaveLength(DOCUMENTS);
      expect(new Set(lines.map((l) => String(l.jobId))).size).toBe(DOCUMENTS);
      expect(lines.every((l) => l.status === 'completed')).toBe(true);
      // The workers rode the failover out: still running, each told of the outage and of its end.
      for (const w of workers) {
        expect(w.proc.exitCode).toBeNull();
        expect(w.logs.some((l) => l.msg === 'Redis available again')).toBe(true);
      }
    },
    5 * 60_000,
  );
});
