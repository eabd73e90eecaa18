import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchStatus } from '../../src/producer/batch-control.js';
import { Producer } from '../../src/producer/producer.js';
import type { QueueOverview } from '../../src/producer/queue-overview.js';
import { loadProducerConfig } from '../../src/shared/config.js';
import { allQueueNames } from '../../src/shared/queue-layout.js';
import {
  cliJson,
  fleetEnvironment,
  jsonLines,
  runCli,
  startWorker,
  waitForBatch,
  type FleetEnv,
  type WorkerProcess,
} from '../helpers/fleet.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * `docfleet queues`, `pause` and `resume` against a real Redis and a real worker: a paused queue keeps its jobs
 * and no worker starts one until it is resumed.
 */

let redis: TestRedis;
let env: FleetEnv;
let dir: string;
let producer: Producer;

beforeAll(async () => {
  redis = await startRedis();
  env = { url: redis.url, prefix: freshPrefix('queues') };
  dir = mkdtempSync(path.join(os.tmpdir(), 'docfleet-queues-'));
  producer = new Producer(loadProducerConfig(fleetEnvironment(env)));
});

afterAll(async () => {
  await producer.close();
  rmSync(dir, { recursive: true, force: true });
  await redis.stop();
});

async function queues(): Promise<Map<string, QueueOverview>> {
  const r = await runCli(env, ['queues', '--json']);
  expect(r.code, r.stderr).toBe(0);
  const list = jsonLines<QueueOverview>(r.stdout);
  return new Map(list.map((q) => [q.queue, q]));
}

const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

describe('docfleet queues, pause and resume', () => {
  it('lists every queue of the layout with its depth per state, workers and paused flag', async () => {
    const overview = await queues();
    expect([...overview.keys()]).toEqual(allQueueNames());
    for (const q of overview.values()) {
      expect(q).toEqual({
        queue: q.queue,
        paused: false,
        workers: 0,
        counts: {
          waiting: 0,
          active: 0,
          delayed: 0,
          prioritized: 0,
          failed: 0,
          completed: 0,
          'waiting-children': 0,
        },
      });
    }
    const table = lines((await runCli(env, ['queues'])).stdout);
    expect(table[0]).toMatch(
      /^QUEUE +WAITING +ACTIVE +DELAYED +PRIORITIZED +FAILED +COMPLETED +WAITING-CHILDREN +WORKERS +PAUSED$/,
    );
    expect(table.slice(1).map((l) => l.split(/ +/))).toEqual(
      allQueueNames().map((name) => [name, '0', '0', '0', '0', '0', '0', '0', '0', 'no']),
    );
  });

  it('refuses a queue that is not in the layout in one line that lists the valid names (exit 2)', async () => {
    for (const command of ['pause', 'resume']) {
      const r = await runCli(env, [command, 'docfleet-generate']);
      expect(r.code).toBe(2);
      expect(lines(r.stderr)).toEqual([
        `docfleet: ${command}: no queue "docfleet-generate"; the queues are ${allQueueNames().join(', ')}`,
      ]);
    }
    const neither = await runCli(env, ['pause']);
    expect(neither.code).toBe(2);
    expect(lines(neither.stderr)).toEqual(['docfleet: pause: name one queue or give --all, not both or neither']);
  });

  it('pauses and resumes every queue with --all', async () => {
    expect((await runCli(env, ['pause', '--all'])).stdout).toBe(`paused ${allQueueNames().join(', ')}\n`);
    expect([...(await queues()).values()].every((q) => q.paused)).toBe(true);
    expect((await runCli(env, ['resume', '--all'])).code).toBe(0);
    expect([...(await queues()).values()].some((q) => q.paused)).toBe(false);
  });

  it('keeps the jobs of a paused queue from a running worker until it is resumed', async () => {
    const worker: WorkerProcess = await startWorker(env, ['--concurrency', '2']);
    try {
      const queue = 'docfleet-generate-any';
      expect((await runCli(env, ['pause', queue])).stdout).toBe(`paused ${queue}\n`);
      for (const name of ['a', 'b'])
        writeFileSync(path.join(dir, `${name}.txt`), `Story ${name}: Lily went to the park with Tom.`);
      const { batch } = await cliJson<{ batch: string }>(env, [
        'submit',
        '--task',
        'summarize',
        '--max-tokens',
        '8',
        dir,
      ]);

      await new Promise((r) => setTimeout(r, 3_000));
      expect(await batchStatus(producer, batch)).toMatchObject({ total: 2, completed: 0, pending: 2 });
      const paused = (await queues()).get(queue)!;
      expect(paused).toMatchObject({ paused: true, workers: 1, counts: { waiting: 2, active: 0, completed: 0 } });
      // A worker holding a generative model consumes its own tag's queue and `any`'s.
      expect((await queues()).get('docfleet-generate-cpu')).toMatchObject({ paused: false, workers: 1 });

      expect((await runCli(env, ['resume', queue])).stdout).toBe(`resumed ${queue}\n`);
      expect(await waitForBatch(env, batch, 60_000)).toMatchObject({ total: 2, completed: 2, done: true });
      expect((await queues()).get(queue)).toMatchObject({ paused: false, counts: { waiting: 0, completed: 2 } });
    } finally {
      await worker.stop();
    }
  });
});
