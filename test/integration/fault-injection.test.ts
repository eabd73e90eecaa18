import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  cliJson,
  readResults,
  startWorker,
  waitFor,
  waitForBatch,
  type FleetEnv,
  type WorkerProcess,
} from '../helpers/fleet.js';
import { CONTRACTS } from '../helpers/paths.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

/** Short locks so that an outage outlives them within a test; two slots per worker. */
const LOCK_MS = 2_000;
const WORKER_ARGS = ['--role', 'generate', '--concurrency', '2', '--lock-ms', String(LOCK_MS)];
const BATCH_MS = 5 * 60_000;

/**
 * Faults a fleet meets in production, each against a real Redis (stopped and restarted with its AOF on the same
 * port, or filled to its maxmemory) and real worker processes. Every case ends with one result per submitted
 * document, no job left active, and no job that ran to completion twice.
 */
describe('fault injection', () => {
  let redis: TestRedis;
  let env: FleetEnv;
  /** Every worker a case started, dead ones included: their logs count the starts and completions. */
  let workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis({ appendOnly: true });
  });
  beforeEach(() => {
    env = { url: redis.url, prefix: freshPrefix('faults') };
  });
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    workers = [];
  });
  afterAll(async () => {
    await redis.stop();
  });

  async function worker(args: string[] = [], opts?: { waitReady?: boolean }): Promise<WorkerProcess> {
    const w = await startWorker(env, [...WORKER_ARGS, ...args], opts);
    workers.push(w);
    return w;
  }

  async function submit(docs: string[], args: string[] = ['--no-map-reduce']) {
    return cliJson<{ batch: string; jobs: number }>(env, [
      'submit',
      ...docs,
      '--task',
      'summarize',
      '--max-tokens',
      '48',
      ...args,
    ]);
  }

  function logged(msg: string): Record<string, unknown>[] {
    return workers.flatMap((w) => w.logs.filter((l) => l.msg === msg));
  }

  /** The batch ends with one completed result per document, nothing active, and no job completed twice. */
  async function expectOneResultEach(batch: string, jobs: number): Promise<void> {
    const status = await waitForBatch(env, batch, BATCH_MS);
    const lines = await readResults(env, batch);
    expect(lines.filter((l) => l.status !== 'completed').map((l) => (l as { error?: unknown }).error)).toEqual([]);
    expect(status).toMatchObject({ total: jobs, completed: jobs, failed: 0, cancelled: 0, pending: 0 });
    expect(lines).toHaveLength(jobs);
    expect(new Set(lines.map((l) => String(l.jobId))).size).toBe(jobs);
    const completions = new Map<unknown, number>();
    for (const l of logged('job completed')) completions.set(l.job, (completions.get(l.job) ?? 0) + 1);
    expect([...completions].filter(([, n]) => n > 1)).toEqual([]);
  }

  it(
    'Redis shut down mid-batch for longer than the lock and restarted: the fleet resumes, no job finishes twice',
    async () => {
      await worker();
      await worker();
      const { batch, jobs } = await submit([CONTRACTS]);
      await waitFor(() => logged('job started').length >= 4, 60_000, 'jobs to start');
      await redis.stop();
      await new Promise((r) => setTimeout(r, 3 * LOCK_MS));
      await redis.restart();
      await expectOneResultEach(batch, jobs);
      expect(workers.every((w) => w.proc.exitCode === null)).toBe(true);
    },
    BATCH_MS + 60_000,
  );

  it(
    'Redis down when the workers start: they start once it is back and finish the batch',
    async () => {
      const { batch, jobs } = await submit([CONTRACTS]);
      await redis.stop();
      const starting = [await worker([], { waitReady: false }), await worker([], { waitReady: false })];
      await new Promise((r) => setTimeout(r, 3_000));
      await redis.restart();
      await waitFor(
        () => starting.every((w) => w.logs.some((l) => l.msg === 'worker ready')),
        60_000,
        'the workers to become ready',
      );
      await expectOneResultEach(batch, jobs);
    },
    BATCH_MS + 60_000,
  );

  it(
    'workers SIGKILLed again and again during a batch: every document still gets one result',
    async () => {
      const { batch, jobs } = await submit([CONTRACTS]);
      // Each kill on another job: a job whose worker dies a third time fails as `stalled` by design (a document
      // that crashes workers must not take the pool down), and a job handed back is the next one a new worker takes.
      // The surviving worker starts after the kills, so that fresh jobs are left for every victim however fast
      // the batch runs.
      const killed = new Set<unknown>();
      for (let i = 0; i < 3; i++) {
        const victim = await worker();
        // The jobs the victim holds now: started and not yet ended.
        const holding = () => {
          const ended = new Set(victim.logs.filter((l) => l.msg !== 'job started').map((l) => l.job));
          return victim.logs.filter((l) => l.msg === 'job started' && !ended.has(l.job)).map((l) => l.job);
        };
        const ready = () => holding().length > 0 && holding().every((job) => !killed.has(job));
        await waitFor(ready, 60_000, 'the victim to hold only jobs not killed before');
        for (const job of holding()) killed.add(job);
        victim.proc.kill('SIGKILL');
        expect(await victim.exited).toBe('SIGKILL');
      }
      await worker();
      await expectOneResultEach(batch, jobs);
    },
    BATCH_MS + 60_000,
  );

  it(
    'SIGTERM during a long map-reduce drains and exits 0; another worker finishes the flow',
    async () => {
      const first = await worker(['--grace-ms', '60000']);
      const long = path.join(CONTRACTS, '06_development_conformis.pdf');
      const { batch, jobs } = await submit([long], []);
      await waitFor(() => first.logs.some((l) => l.msg === 'job started' && l.part !== undefined), 60_000, 'a part');
      expect(await first.stop('SIGTERM')).toBe(0);
      await worker();
      await expectOneResultEach(batch, jobs);
    },
    BATCH_MS + 60_000,
  );

  it(
    'SIGTERM with jobs outliving the grace period: they are handed back, the worker exits 0',
    async () => {
      const first = await worker(['--grace-ms', '0', '--concurrency', '4']);
      const { batch, jobs } = await submit([CONTRACTS], ['--no-map-reduce', '--max-tokens', '256']);
      await waitFor(() => logged('job started').length >= 2, 60_000, 'jobs to start');
      expect(await first.stop('SIGTERM')).toBe(0);
      expect(first.logs.some((l) => l.msg === 'grace period over: running jobs handed back to the queue')).toBe(true);
      expect(first.logs.some((l) => l.msg === 'job given up' && l.reason === 'shutdown')).toBe(true);
      await worker();
      await expectOneResultEach(batch, jobs);
    },
    BATCH_MS + 60_000,
  );

  it(
    'SIGTERM while Redis is down: the worker exits 0, its jobs run elsewhere once Redis is back',
    async () => {
      const first = await worker(['--grace-ms', '1000']);
      const { batch, jobs } = await submit([CONTRACTS]);
      await waitFor(() => logged('job started').length >= 2, 60_000, 'jobs to start');
      await redis.stop();
      expect(await first.stop('SIGTERM')).toBe(0);
      await redis.restart();
      await worker();
      await expectOneResultEach(batch, jobs);
    },
    BATCH_MS + 60_000,
  );

  it(
    'Redis at maxmemory (noeviction): workers report not ready and keep their jobs, then recover when memory frees',
    async () => {
      const w = await worker();
      const admin = new Redis(redis.url);
      try {
        const { batch, jobs } = await submit([CONTRACTS]);
        await waitFor(() => logged('job started').length >= 2, 60_000, 'jobs to start');
        await admin.config('SET', 'maxmemory-policy', 'noeviction');
        await admin.config('SET', 'maxmemory', '1');
        await waitFor(() => readyz(w).then((s) => s === 503), 10_000, '/readyz to answer 503');
        await new Promise((r) => setTimeout(r, 3 * LOCK_MS));
        await admin.config('SET', 'maxmemory', '0');
        await waitFor(() => readyz(w).then((s) => s === 200), 10_000, '/readyz to answer 200');
        await expectOneResultEach(batch, jobs);
        expect(logged('job failed')).toEqual([]);
        // Kept, not given up; the refusal said once, not every second.
        expect(logged('job given up')).toEqual([]);
        expect(w.logs.filter((l) => /out of memory/.test(String(l.msg)))).toHaveLength(1);
        expect(w.logs.filter((l) => /OOM/.test(JSON.stringify(l)))).toHaveLength(1);
      } finally {
        await admin.config('SET', 'maxmemory', '0').catch(() => undefined);
        admin.disconnect();
      }
    },
    BATCH_MS + 60_000,
  );
});

async function readyz(w: WorkerProcess): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${w.metricsPort}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(
    () => undefined,
  );
  return res?.status ?? 0;
}
