import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchFailures } from '../../src/producer/batch-failures.js';
import type { BatchProgress } from '../../src/producer/batch-watch.js';
import {
  cliJson,
  fleetEnvironment,
  jsonLines,
  runCli,
  startWorker,
  waitFor,
  type FleetEnv,
  type WorkerProcess,
} from '../helpers/fleet.js';
import { CLI, ROOT } from '../helpers/paths.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * `docfleet status --watch` followed through a batch's end with a real worker: JSON lines when not at a terminal,
 * a progress bar in a pseudo-terminal, and the exit code that says whether every document completed; and
 * `docfleet failures`, which names the documents that did not.
 */

let redis: TestRedis;
let env: FleetEnv;
let dir: string;
let worker: WorkerProcess;

beforeAll(async () => {
  redis = await startRedis();
  env = { url: redis.url, prefix: freshPrefix('watch') };
  dir = mkdtempSync(path.join(os.tmpdir(), 'docfleet-watch-'));
  worker = await startWorker(env, ['--concurrency', '2']);
});

afterAll(async () => {
  await worker.stop();
  rmSync(dir, { recursive: true, force: true });
  await redis.stop();
});

/** A folder of short stories (distinct content, so each is a job of its own) and the given fixtures. */
function folder(name: string, stories: number, fixtures: string[] = []): string {
  const at = path.join(dir, name);
  mkdirSync(at);
  for (let i = 0; i < stories; i++)
    writeFileSync(path.join(at, `story-${i}.txt`), `${name} ${i}: Lily went to the park with Tom. They found a ball.`);
  for (const f of fixtures) copyFileSync(path.join(ROOT, 'test/fixtures', f), path.join(at, f));
  return at;
}

async function submit(input: string): Promise<string> {
  const r = await cliJson<{ batch: string }>(env, ['submit', '--task', 'summarize', '--max-tokens', '8', input]);
  return r.batch;
}

const QUEUE = 'docfleet-generate-any';

describe('docfleet status --watch', () => {
  it('prints a JSON line per poll until the batch ends, and exits 0 when every document completed', async () => {
    // Paused, the batch waits until the watch has seen it pending.
    expect((await runCli(env, ['pause', QUEUE])).code).toBe(0);
    const batch = await submit(folder('complete', 3));
    const watching = runCli(env, ['status', batch, '--watch', '--interval-ms', '200']);
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await runCli(env, ['resume', QUEUE])).code).toBe(0);
    const r = await watching;

    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = jsonLines<BatchProgress>(r.stdout);
    expect(lines.length).toBeGreaterThan(2);
    expect(lines[0]).toMatchObject({ batch, total: 3, completed: 0, pending: 3, done: false, perSecond: 0 });
    const last = lines.at(-1)!;
    expect(last).toMatchObject({ batch, total: 3, completed: 3, failed: 0, pending: 0, finished: 3, done: true });
    expect(last.perSecond).toBeGreaterThan(0);
    expect(lines.slice(0, -1).every((l) => !l.done)).toBe(true);
    const finished = lines.map((l) => l.finished);
    expect(finished).toEqual([...finished].sort((a, b) => a - b));
    expect((await runCli(env, ['failures', batch])).stdout).toBe(`batch ${batch}: no failures\n`);
  });

  it('exits 1 when a document failed, and `failures` names it under its category with the reason', async () => {
    const batch = await submit(folder('mixed', 2, ['not-a-pdf.pdf']));
    const r = await runCli(env, ['status', batch, '--watch', '--interval-ms', '200']);

    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `docfleet: batch ${batch}: 1 failed and 0 cancelled of 3; \`docfleet failures ${batch}\` lists the failures`,
    ]);
    expect(jsonLines<BatchProgress>(r.stdout).at(-1)).toMatchObject({
      total: 3,
      completed: 2,
      failed: 1,
      done: true,
    });

    const failures = await cliJson<BatchFailures>(env, ['failures', batch]);
    const notPdf = path.join(dir, 'mixed', 'not-a-pdf.pdf');
    expect(failures).toMatchObject({
      batch,
      failed: 1,
      groups: [{ category: 'unsupported-type', documents: [{ uri: notPdf, task: 'summarize', attempts: 1 }] }],
    });
    expect(failures.groups[0]!.documents[0]!.message).toMatch(/not a PDF/);
    const text = await runCli(env, ['failures', batch]);
    expect(text.stdout).toMatch(
      /^batch \S+: 1 failed\n\nunsupported-type \(1\)\n {2}\S*not-a-pdf\.pdf \[summarize\]: /,
    );
  });

  it('exits 1 for a batch with cancelled documents', async () => {
    expect((await runCli(env, ['pause', QUEUE])).code).toBe(0);
    try {
      const batch = await submit(folder('cancelled', 2));
      expect((await runCli(env, ['cancel', batch])).stdout).toMatch(/^cancelled 2 queued jobs/);
      const r = await runCli(env, ['status', batch, '--watch', '--json']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/0 failed and 2 cancelled of 2\n$/);
      expect(jsonLines<BatchProgress>(r.stdout)).toMatchObject([{ cancelled: 2, done: true }]);
    } finally {
      await runCli(env, ['resume', QUEUE]);
    }
  });

  it('draws a progress bar in a pseudo-terminal, refreshed until the batch ends', async () => {
    expect((await runCli(env, ['pause', QUEUE])).code).toBe(0);
    const batch = await submit(folder('terminal', 2));
    // `script` gives the command a terminal and returns its exit code (-e); -f flushes as it writes.
    const command = [process.execPath, CLI, 'status', batch, '--watch', '--interval-ms', '200'].join(' ');
    const proc = spawn('script', ['-qfec', command, '/dev/null'], {
      env: { ...process.env, ...fleetEnvironment(env), COLUMNS: '120' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let screen = '';
    proc.stdout.on('data', (c: Buffer) => (screen += c.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    await waitFor(
      () => screen.includes('0/2 | 0 done'),
      20_000,
      () => `the bar at 0/2, saw ${JSON.stringify(screen)}`,
    );
    expect((await runCli(env, ['resume', QUEUE])).code).toBe(0);

    expect(await exited, screen).toBe(0);
    expect(screen).toMatch(/[░█]+ 0% \| 0\/2 \| 0 done, 0 failed \| 0\/s \| ETA \?/);
    expect(screen).toMatch(/█+ 100% \| 2\/2 \| 2 done, 0 failed \| [\d.]+\/s \| ETA 0s/);
    expect(screen).toContain(`batch ${batch}: total 2, completed 2, failed 0, cancelled 0, pending 0 (done)`);
  });
});
