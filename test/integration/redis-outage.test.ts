import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/shared/local-redis.js';
import {
  cliJson,
  fleetEnvironment,
  readResults,
  runCli,
  startWorker,
  waitFor,
  waitForBatch,
  type FleetEnv,
  type WorkerProcess,
} from '../helpers/fleet.js';
import { CLI } from '../helpers/paths.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

/** Every command that connects, does its work and ends. */
const ONE_SHOT = [
  ['submit', 'README.md', '--task', 'summarize'],
  ['status', 'no-such-batch'],
  ['results', 'no-such-batch'],
  ['cancel', 'no-such-batch'],
  ['retry', 'no-such-batch'],
];

describe('one-shot commands against a Redis that is not there', () => {
  it('each ends within 15 s with exit code 3 and one line naming the URL without its password', async () => {
    const env: FleetEnv = { url: 'redis://:not-shown@127.0.0.1:1', prefix: freshPrefix('down') };
    const runs = await Promise.all(
      ONE_SHOT.map(async (args) => {
        const started = Date.now();
        const r = await runCli(env, args);
        return { args, ...r, seconds: (Date.now() - started) / 1000 };
      }),
    );
    for (const r of runs) {
      expect(r.seconds, r.args[0]).toBeLessThanOrEqual(15);
      expect(r.code, r.args[0]).toBe(3);
      expect(r.stdout, r.args[0]).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.args[0]).toHaveLength(1);
      expect(lines[0]).toMatch(/^docfleet: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 could not be reached/);
      expect(r.stderr).not.toContain('not-shown');
    }
  }, 60_000);

  it('gives up after --redis-timeout-ms', async () => {
    const started = Date.now();
    const r = await runCli({ url: 'redis://127.0.0.1:1', prefix: 'x' }, ['status', 'b', '--redis-timeout-ms', '1000']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('within 1 s');
    expect(Date.now() - started).toBeLessThan(8_000);
  });
});

describe('a worker and the exporter through a Redis outage', () => {
  let redis: TestRedis;
  let env: FleetEnv;
  let worker: WorkerProcess | undefined;
  let exporter: ReturnType<typeof spawn> | undefined;
  let exporterErr = '';
  let docs: string;

  beforeAll(async () => {
    redis = await startRedis();
    env = { url: redis.url, prefix: freshPrefix('outage') };
    docs = mkdtempSync(path.join(tmpdir(), 'docfleet-outage-'));
    for (const name of ['before', 'after'])
      writeFileSync(path.join(docs, `${name}.txt`), `The ${name} document. The parties agree to pay on time.\n`);
  });
  afterAll(async () => {
    exporter?.kill('SIGKILL');
    await worker?.stop('SIGKILL');
    await redis.stop();
  });

  const readyz = async (port: number) => {
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, ms: Date.now() - started };
  };
  const submit = async (file: string) =>
    (
      await cliJson<{ batch: string }>(env, [
        'submit',
        path.join(docs, file),
        '--task',
        'summarize',
        '--no-map-reduce',
        '--max-tokens',
        '16',
      ])
    ).batch;

  it(
    'answers 503 on /readyz at once, logs one line when Redis goes and one when it is back, and resumes',
    async () => {
      worker = await startWorker(env, ['--role', 'generate', '--concurrency', '1']);
      const exporterPort = await freePort();
      exporter = spawn(process.execPath, [CLI, 'exporter', '--port', String(exporterPort)], {
        env: { ...process.env, ...fleetEnvironment(env), LOG_FORMAT: 'json' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      exporter.stderr!.on('data', (c: Buffer) => (exporterErr += c.toString()));
      await waitFor(() => exporterErr.includes('queue exporter on'), 20_000, 'the exporter to start');

      const first = await submit('before.txt');
      await waitForBatch(env, first, 60_000);
      expect((await readyz(worker.metricsPort)).status).toBe(200);

      await redis.stop();
      await new Promise((r) => setTimeout(r, 300));
      const during = await readyz(worker.metricsPort);
      expect(during.status).toBe(503);
      expect(during.ms).toBeLessThan(1_000);
      const metrics = await fetch(`http://127.0.0.1:${exporterPort}/metrics`, { signal: AbortSignal.timeout(1_000) });
      expect(metrics.status).toBe(503);
      // Several seconds of reconnect attempts by every connection: still one line.
      await new Promise((r) => setTimeout(r, 4_000));
      const gone = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === 'Redis unavailable');
      expect(gone(worker.logs)).toHaveLength(1);
      expect(exporterLines().filter((l) => l.msg === 'Redis unavailable')).toHaveLength(1);

      await redis.restart();
      await waitFor(
        () => worker!.logs.some((l) => l.msg === 'Redis available again'),
        15_000,
        'the worker to reconnect',
      );
      await waitFor(
        () => exporterLines().some((l) => l.msg === 'Redis available again'),
        15_000,
        'the exporter to reconnect',
      );
      await waitFor(async () => (await readyz(worker!.metricsPort)).status === 200, 10_000, '/readyz to be 200');

      // The same worker, not restarted, takes new work.
      const second = await submit('after.txt');
      const status = await waitForBatch(env, second, 60_000);
      expect(status).toMatchObject({ total: 1, completed: 1, failed: 0 });
      expect(await readResults(env, second)).toHaveLength(1);

      expect(gone(worker.logs)).toHaveLength(1);
      expect(worker.logs.filter((l) => l.msg === 'Redis available again')).toHaveLength(1);
      // Nothing but JSON lines: no ioredis "Unhandled error event" stacks on stderr.
      expect(worker.stderr()).toBe('');
      expect(exporterErr).not.toContain('Unhandled error event');
      expect(exporterErr).not.toMatch(/^\s+at /m);
    },
    3 * 60_000,
  );

  function exporterLines(): Record<string, unknown>[] {
    return exporterErr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
});
