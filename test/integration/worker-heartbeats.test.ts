import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { StoreKeys } from '../../src/shared/store-keys.js';
import { liveWorkers, type WorkerBeat } from '../../src/shared/worker-beats.js';
import { startWorker, waitFor, type FleetEnv, type WorkerProcess } from '../helpers/fleet.js';
import { connectTo, freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

describe('worker heartbeats', () => {
  let redis: TestRedis;
  let client: Redis;
  let workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    client = connectTo(redis.url);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    client.disconnect();
    await redis.stop();
  });

  it('lists running workers with their model and sequences; one stopped leaves at once, one killed after its TTL', async () => {
    const env: FleetEnv = { url: redis.url, prefix: freshPrefix('beats') };
    const keys = new StoreKeys(env.prefix);
    const intervalMs = 500;
    const beat = ['--heartbeat-ms', String(intervalMs), '--role', 'generate'];
    workers = await Promise.all([
      startWorker(env, [...beat, '--concurrency', '2']),
      startWorker(env, [...beat, '--concurrency', '3', '--tag', 'gpu']),
    ]);
    const [stopped, killed] = workers as [WorkerProcess, WorkerProcess];
    let seen: WorkerBeat[] = [];
    await waitFor(async () => (seen = await liveWorkers(client, keys)).length === 2, 10_000, 'two workers listed');
    const byPid = (pid: number | undefined) => seen.find((w) => w.pid === pid);
    expect(byPid(stopped.proc.pid)).toMatchObject({
      model: 'stories260K',
      device: 'cpu',
      tag: 'cpu',
      role: 'generate',
      sequences: 2,
      busy: 0,
      jobsDone: 0,
      intervalMs,
      queues: ['docfleet-generate-cpu', 'docfleet-generate-any'],
    });
    expect(byPid(killed.proc.pid)).toMatchObject({ tag: 'gpu', sequences: 3 });
    for (const w of seen) expect(w.beatAt).toBeGreaterThanOrEqual(w.startedAt);

    expect(await stopped.stop('SIGTERM')).toBe(0);
    seen = await liveWorkers(client, keys);
    expect(seen.map((w) => w.pid)).toEqual([killed.proc.pid]);

    killed.proc.kill('SIGKILL');
    await killed.exited;
    const diedAt = Date.now();
    await waitFor(async () => (await liveWorkers(client, keys)).length === 0, 10_000, 'the killed worker to expire');
    // Its entry lives three intervals from its last beat, no longer.
    expect(Date.now() - diedAt).toBeLessThan(3 * intervalMs + 1_000);
    expect(await client.zcard(keys.workerIndex())).toBe(0);
  }, 120_000);
});
