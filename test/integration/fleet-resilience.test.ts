import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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
import { CONTRACTS, ROOT } from '../helpers/paths.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

describe('a fleet that loses workers, documents that fail', () => {
  let redis: TestRedis;
  let env: FleetEnv;
  let workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  beforeEach(() => {
    env = { url: redis.url, prefix: freshPrefix('resilience') };
  });
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    workers = [];
  });
  afterAll(async () => {
    await redis.stop();
  });

  it(
    'finishes the batch with one result per document when a worker is SIGKILLed mid-batch',
    async () => {
      const lockArgs = ['--lock-ms', '2000', '--concurrency', '2', '--role', 'generate'];
      const victim = await startWorker(env, lockArgs);
      const survivor = await startWorker(env, lockArgs);
      workers.push(victim, survivor);
      const { batch, jobs } = await cliJson<{ batch: string; jobs: number }>(env, [
        'submit',
        CONTRACTS,
        '--task',
        'summarize',
        '--no-map-reduce',
      ]);
      expect(jobs).toBe(21);

      await waitFor(() => victim.logs.some((l) => l.msg === 'job started'), 60_000, 'the victim to start a job');
      victim.proc.kill('SIGKILL');
      expect(await victim.exited).toBe('SIGKILL');

      const status = await waitForBatch(env, batch, 5 * 60_000);
      expect(status).toMatchObject({ total: 21, completed: 21, failed: 0 });
      const lines = await readResults(env, batch);
      expect(lines).toHaveLength(21);
      expect(new Set(lines.map((l) => String(l.jobId))).size).toBe(21);
      expect(lines.every((l) => l.status === 'completed')).toBe(true);
    },
    6 * 60_000,
  );

  it(
    'on SIGTERM stops taking jobs, finishes running ones and exits 0; nothing is lost',
    async () => {
      const first = await startWorker(env, ['--concurrency', '2', '--role', 'generate', '--grace-ms', '20000']);
      workers.push(first);
      const { batch } = await cliJson<{ batch: string }>(env, [
        'submit',
        CONTRACTS,
        '--task',
        'summarize',
        '--no-map-reduce',
      ]);
      await waitFor(() => first.logs.some((l) => l.msg === 'job started'), 60_000, 'a job to start');
      expect(await first.stop('SIGTERM')).toBe(0);
      const started = first.logs.filter((l) => l.msg === 'job started').map((l) => l.job);
      const finished = first.logs.filter((l) => l.msg === 'job completed' || l.msg === 'job failed').map((l) => l.job);
      expect(new Set(finished)).toEqual(new Set(started));

      const second = await startWorker(env, ['--concurrency', '2', '--role', 'generate']);
      workers.push(second);
      expect(await waitForBatch(env, batch, 5 * 60_000)).toMatchObject({ total: 21, completed: 21 });
    },
    6 * 60_000,
  );

  it('fails permanent errors at once with a category, retries transient ones, and retry re-enqueues', async () => {
    let httpCalls = 0;
    const server: Server = createServer((_req, res) => {
      httpCalls++;
      res.writeHead(503).end('busy');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/contract.pdf`;
    // The server is on this host: fetching from it must be allowed, at submit and on the worker.
    const fetchFlags = ['--allow-url-prefix', url, '--allow-private-addresses'];
    try {
      workers.push(await startWorker(env, ['--concurrency', '2', '--role', 'generate', ...fetchFlags]));
      const notPdf = path.join(ROOT, 'test/fixtures/not-a-pdf.pdf');
      const encrypted = path.join(ROOT, 'test/fixtures/encrypted.pdf');
      const a = await cliJson<{ batch: string; jobs: number }>(env, [
        'submit',
        notPdf,
        encrypted,
        '--task',
        'summarize',
      ]);
      expect(a.jobs).toBe(2);
      await waitForBatch(env, a.batch, 60_000);
      const failures = Object.fromEntries(
        (await readResults(env, a.batch)).map((l) => [
          path.basename((l.job as { doc: { name: string } }).doc.name),
          l.error,
        ]),
      );
      expect(failures['not-a-pdf.pdf']).toMatchObject({ category: 'unsupported-type', attempts: 1 });
      expect(failures['encrypted.pdf']).toMatchObject({ category: 'encrypted', attempts: 1 });

      // The producer must hash the document, so the URL answers once; the worker then sees 503s.
      server.removeAllListeners('request');
      server.on('request', (_req, res) => {
        httpCalls++;
        if (httpCalls === 1) res.writeHead(200, { 'content-type': 'application/pdf' }).end('%PDF-1.4 stub');
        else res.writeHead(503).end('busy');
      });
      httpCalls = 0;
      const b = await cliJson<{ batch: string }>(env, [
        'submit',
        url,
        '--task',
        'summarize',
        '--attempts',
        '2',
        ...fetchFlags,
      ]);
      const status = await waitForBatch(env, b.batch, 60_000);
      expect(status).toMatchObject({ total: 1, failed: 1 });
      const [line] = await readResults(env, b.batch);
      expect(line!.error).toMatchObject({ category: 'fetch-failed', attempts: 2 });

      const retried = await runCli(env, ['retry', b.batch]);
      expect(retried.stdout).toContain('retried 1');
      await waitFor(
        async () =>
          (
            await cliJson<{ failed: number; total: number; waiting: number; active: number; delayed: number }>(env, [
              'status',
              b.batch,
            ])
          ).failed === 0,
        10_000,
        'the retried job to leave failed',
        500,
      );
    } finally {
      server.close();
    }
  });

  it('refuses oversized documents at submit and cancels a batch nobody has started', async () => {
    const r = await runCli(env, [
      'submit',
      CONTRACTS,
      '--task',
      'summarize',
      '--no-map-reduce',
      '--max-document-mb',
      '0.01',
      '--json',
    ]);
    // Every contract is over the limit: nothing is submitted, which is a usage error (exit 2), not an empty batch.
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refused .*too large/);
    expect(r.stderr).toMatch(/^docfleet: nothing submitted: all \d+ inputs were refused/m);
    expect(r.stdout).toBe('');

    const { batch, jobs } = await cliJson<{ batch: string; jobs: number }>(env, [
      'submit',
      path.join(ROOT, 'samples'),
      '--task',
      'extract',
    ]);
    const cancel = await runCli(env, ['cancel', batch]);
    expect(cancel.stdout).toContain(`cancelled ${jobs}`);
    expect(await cliJson(env, ['status', batch])).toMatchObject({ total: jobs, cancelled: jobs, done: true });
  });

  it('a worker asked for a GPU on a machine without one fails at start, naming the problem', async () => {
    const r = await runCli(env, [
      'worker',
      '--model',
      path.join(ROOT, '../shared/models/stories260K.gguf'),
      '--device',
      'gpu',
      '--metrics-port',
      '0',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/gpu/i);
    expect(r.stderr).toMatch(/--device cpu/);
  });
});
