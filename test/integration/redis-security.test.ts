import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProducerConfig } from '../../src/shared/config.js';
import { freePort } from '../../src/shared/local-redis.js';
import { RedisConnection } from '../../src/shared/redis-connection.js';
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
import { CLI, TEST_MODEL } from '../helpers/paths.js';
import {
  freshPrefix,
  makeCertificates,
  startTlsRedis,
  type TestCertificates,
  type TestRedis,
} from '../helpers/redis.js';

/**
 * Password and TLS for every component, and the password in no output: every line any process of this file
 * writes is kept and searched for it at the end.
 */
describe('Redis with a password and TLS', () => {
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const rotated = `pw-${randomBytes(8).toString('hex')}`;
  const wrong = `pw-${randomBytes(8).toString('hex')}`;
  const output: string[] = [];
  let certs: TestCertificates;
  let redis: TestRedis & { tlsUrl: string };
  let passwordFile: string;
  let wrongFile: string;
  const workers: WorkerProcess[] = [];
  const others: ReturnType<typeof spawn>[] = [];

  beforeAll(async () => {
    certs = makeCertificates();
    passwordFile = path.join(certs.dir, 'redis-password');
    wrongFile = path.join(certs.dir, 'wrong-password');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    writeFileSync(wrongFile, `${wrong}\n`, { mode: 0o600 });
    redis = await startTlsRedis(certs, { password });
  });
  afterAll(async () => {
    for (const p of others) p.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    await redis.stop();
  });

  const tlsEnv = (): FleetEnv => ({
    url: redis.tlsUrl,
    prefix: freshPrefix('sec'),
    extra: { REDIS_PASSWORD_FILE: passwordFile, REDIS_CA_FILE: certs.ca },
  });
  const cli = async (env: FleetEnv, args: string[]) => {
    const r = await runCli(env, args);
    output.push(r.stdout, r.stderr);
    return r;
  };
  /** A long-running component (`worker` or `exporter`) whose output is kept, not waited on. */
  const spawnComponent = (env: FleetEnv, args: string[]) => {
    const proc = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...fleetEnvironment(env), LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    others.push(proc);
    let text = '';
    const keep = (c: Buffer) => {
      text += c.toString();
      output.push(c.toString());
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    return { proc, text: () => text };
  };
  const linesWith = (text: string, msg: string) =>
    text.split('\n').filter((l) => l.startsWith('{') && (JSON.parse(l) as { msg?: string }).msg === msg);

  it(
    'submit, a worker, status, results and the exporter over rediss:// with a CA file and a password file',
    async () => {
      const env = tlsEnv();
      const doc = path.join(certs.dir, 'clause.txt');
      writeFileSync(doc, 'The supplier shall deliver the goods within thirty days of the order.\n');
      const worker = await startWorker(env, ['--role', 'generate', '--concurrency', '1']);
      workers.push(worker);
      const { batch } = await cliJson<{ batch: string }>(env, [
        'submit',
        doc,
        '--task',
        'summarize',
        '--no-map-reduce',
        '--max-tokens',
        '16',
      ]);
      expect(await waitForBatch(env, batch, 60_000)).toMatchObject({ total: 1, completed: 1, failed: 0 });
      const results = await readResults(env, batch);
      expect(results).toHaveLength(1);
      output.push(JSON.stringify(results), JSON.stringify(worker.logs), worker.stderr());
      expect((await cli(env, ['status', batch])).code).toBe(0);

      const port = await freePort();
      const exporter = spawnComponent(env, ['exporter', '--port', String(port)]);
      await waitFor(() => exporter.text().includes('queue exporter on'), 20_000, 'the exporter to start');
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      const body = await metrics.text();
      output.push(body);
      expect(metrics.status).toBe(200);
      expect(body).toContain('docfleet_queue_jobs');
    },
    3 * 60_000,
  );

  it('a client certificate where Redis asks for one', async () => {
    const strict = await startTlsRedis(certs, { password, clientCertificates: true });
    try {
      const env: FleetEnv = { ...tlsEnv(), url: strict.tlsUrl };
      const withCert = {
        ...env,
        extra: { ...env.extra, REDIS_CERT_FILE: certs.clientCert, REDIS_KEY_FILE: certs.clientKey },
      };
      const ok = await cli(withCert, ['status', 'no-such-batch']);
      expect(ok.stderr).toContain('no-such-batch');
      expect(ok.code).toBe(2);
      const refused = await cli(env, ['status', 'no-such-batch', '--redis-timeout-ms', '2000']);
      expect(refused.code).toBe(3);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      await strict.stop();
    }
  });

  it('a wrong password: one line from submit, the worker and the exporter', async () => {
    const env: FleetEnv = { url: redis.url, prefix: freshPrefix('sec'), extra: { REDIS_PASSWORD_FILE: wrongFile } };
    const submit = await cli(env, ['submit', passwordFile, '--task', 'summarize']);
    expect(submit.code).toBe(3);
    expect(submit.stderr.trim().split('\n')).toHaveLength(1);
    expect(submit.stderr).toContain('refused the credentials');

    const worker = spawnComponent(env, ['worker', '--model', TEST_MODEL, '--metrics-port', '0']);
    const exporter = spawnComponent(env, ['exporter', '--port', String(await freePort())]);
    await waitFor(
      () => linesWith(worker.text(), 'Redis unavailable').length > 0,
      60_000,
      'the worker to report Redis unavailable',
    );
    await waitFor(
      () => linesWith(exporter.text(), 'Redis unavailable').length > 0,
      20_000,
      'the exporter to report Redis unavailable',
    );
    // Retries go on (every second or so); the report does not repeat.
    await new Promise((r) => setTimeout(r, 4_000));
    expect(linesWith(worker.text(), 'Redis unavailable')).toHaveLength(1);
    expect(linesWith(exporter.text(), 'Redis unavailable')).toHaveLength(1);
    expect(worker.text()).toContain('WRONGPASS');
    expect(worker.text()).not.toContain('Unhandled error event');
  }, 120_000);

  it('a password rotated under a running component: one line, and neither password shown', async () => {
    const env: FleetEnv = { url: redis.url, prefix: freshPrefix('sec'), extra: { REDIS_PASSWORD_FILE: passwordFile } };
    const port = await freePort();
    const exporter = spawnComponent(env, ['exporter', '--port', String(port)]);
    await waitFor(() => exporter.text().includes('queue exporter on'), 20_000, 'the exporter to start');
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);

    const admin = new Redis(redis.port, '127.0.0.1', { password });
    try {
      await admin.config('SET', 'requirepass', rotated);
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await waitFor(
        () => linesWith(exporter.text(), 'Redis unavailable').length > 0,
        20_000,
        'the exporter to report Redis unavailable',
      );
      await new Promise((r) => setTimeout(r, 3_000));
      expect(linesWith(exporter.text(), 'Redis unavailable')).toHaveLength(1);
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      const body = await metrics.text();
      output.push(body);
      expect(metrics.status).toBe(503);
    } finally {
      await admin.config('SET', 'requirepass', password).catch(() => {});
      admin.disconnect();
    }
  }, 60_000);

  it('the errors ioredis raises on refused credentials carry no password', async () => {
    const settings = loadProducerConfig({ REDIS_URL: redis.url, REDIS_PASSWORD_FILE: wrongFile });
    const connection = new RedisConnection(settings, 'one-shot');
    const seen: unknown[] = [];
    connection.client.on('error', (err) => seen.push(err));
    // A command queued while the handshake fails is rejected with the handshake's error.
    seen.push(await connection.client.get('x').catch((err: unknown) => err));
    seen.push(await connection.ready(2_000).catch((err: unknown) => err));
    connection.close();
    const shown = seen.map((err) => `${inspect(err, { depth: 5 })} ${JSON.stringify(err)}`).join('\n');
    expect(shown).toContain('WRONGPASS');
    expect(shown).not.toContain(wrong);
    output.push(shown);
  });

  it('no line any component wrote carries a password', () => {
    const lines = output.join('\n').split('\n');
    expect(lines.length).toBeGreaterThan(20);
    for (const secret of [password, rotated, wrong]) expect(lines.filter((l) => l.includes(secret))).toEqual([]);
  });
});
