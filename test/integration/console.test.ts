import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsoleProcess, type ConsoleProcess } from '../helpers/console.js';
import { cliJson, runCli, startWorker, waitFor, type FleetEnv, type WorkerProcess } from '../helpers/fleet.js';
import { ROOT } from '../helpers/paths.js';
import { batchTaskLines } from '../../src/producer/task-lines.js';
import type { BatchMeta } from '../../src/shared/batch-store.js';
import { ResultStore } from '../../src/shared/result-store.js';
import { connectTo, freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

/** Screenshots of each page, kept as test artifacts (gitignored); docs/images/ holds chosen copies. */
const ARTIFACTS = path.join(ROOT, 'test/artifacts/console');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'console-test-token-0123456789abcdef';

/** An address of this machine other processes could reach (not loopback); 0.0.0.0 when it has none. */
function ownAddress(): string {
  const all = Object.values(os.networkInterfaces()).flatMap((list) => list ?? []);
  return all.find((a) => a.family === 'IPv4' && !a.internal)?.address ?? '0.0.0.0';
}

describe('the web console in a real browser', () => {
  let redis: TestRedis;
  let env: FleetEnv;
  let worker: WorkerProcess;
  let consoleProc: ConsoleProcess;
  let browser: Browser;
  let page: Page;

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    redis = await startRedis();
    env = { url: redis.url, prefix: freshPrefix('console') };
    [worker, consoleProc, browser] = await Promise.all([
      startWorker(env, ['--role', 'generate', '--concurrency', '2', '--heartbeat-ms', '1000']),
      startConsoleProcess(env),
      chromium.launch({ executablePath: CHROMIUM }),
    ]);
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  }, 120_000);
  afterAll(async () => {
    await browser.close();
    await consoleProc.stop();
    await worker.stop('SIGKILL');
    await redis.stop();
  });

  it(
    'follows a batch to 100%, shows why a document failed, retries it, and shows the fleet and the queues',
    async () => {
      // The samples, and a file that passes submit (only the worker reads it) and that the worker refuses: it is
      // named .pdf but has no PDF header.
      const folder = mkdtempSync(path.join(os.tmpdir(), 'docfleet-console-'));
      cpSync(path.join(ROOT, 'samples'), folder, { recursive: true });
      copyFileSync(path.join(ROOT, 'test/fixtures/not-a-pdf.pdf'), path.join(folder, 'not-a-pdf.pdf'));
      const { batch } = await cliJson<{ batch: string }>(env, [
        'submit',
        folder,
        '--task',
        'summarize,extract',
        '--no-map-reduce',
        '--name',
        'nightly review',
      ]);

      await page.goto(`${consoleProc.url}/`);
      await page.getByRole('link', { name: 'nightly review' }).click();
      await page.waitForURL(`**/batches/${batch}`);
      // The page reloads itself while the batch runs.
      await page.locator('[role=progressbar][aria-valuenow="100"]').waitFor({ timeout: 180_000 });
      await expect.poll(() => page.locator('main').innerText()).toContain('finished with failures');
      await shot('batch');
      await page.getByRole('link', { name: 'failed documents only' }).click();
      await expect.poll(() => page.locator('tbody tr').count()).toBe(2);
      await expect.poll(() => page.locator('tbody').innerText()).not.toContain('completed');

      await page.goto(`${consoleProc.url}/`);
      await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
      await expect.poll(() => page.locator('tbody tr').innerText()).toContain('finished with failures');
      await shot('batches');

      await page.goto(`${consoleProc.url}/batches/${batch}`);
      const failedRow = page.locator('tbody tr', { hasText: 'not-a-pdf.pdf' }).filter({ hasText: 'summarize' });
      await expect.poll(() => failedRow.innerText()).toContain('failed');
      await expect.poll(() => failedRow.innerText()).toContain('unsupported-type');
      await failedRow.getByRole('link', { name: 'reason' }).click();
      await expect.poll(() => page.locator('main').innerText()).toContain('Reason');
      await expect.poll(() => page.locator('.reason').innerText()).toContain('unsupported-type');
      await shot('failed-document');

      await page.goto(`${consoleProc.url}/batches/${batch}`);
      const extractRow = page
        .locator('tbody tr', { hasText: 'consulting-agreement.md' })
        .filter({ hasText: 'extract' });
      await extractRow.getByRole('link', { name: 'result' }).click();
      await expect.poll(() => page.locator('main h2').innerText()).toContain('Fields');
      await shot('extract-result');
      await page.getByRole('link', { name: 'JSON' }).click();
      const json = JSON.parse((await page.locator('body').innerText()) || '{}') as {
        status: string;
        job: { task: string };
      };
      expect(json).toMatchObject({ status: 'completed', job: { task: 'extract' } });

      const startsBefore = started(worker).length;
      await page.goto(`${consoleProc.url}/batches/${batch}`);
      await page.getByRole('button', { name: 'Retry failed' }).click();
      await expect
        .poll(() => page.locator('.notice').innerText())
        .toContain('2 failed documents sent back to their queues');
      // Re-enqueued: the worker takes both jobs again (and refuses the file again).
      await waitFor(() => started(worker).length === startsBefore + 2, 60_000, 'the retried jobs to run again');
      expect(
        new Set(
          started(worker)
            .slice(startsBefore)
            .map((l) => path.basename(String(l.document))),
        ),
      ).toEqual(new Set(['not-a-pdf.pdf']));

      await page.goto(`${consoleProc.url}/fleet`);
      const row = page.locator('tbody tr');
      await expect.poll(() => row.count()).toBe(1);
      await expect.poll(() => row.innerText()).toContain('stories260K');
      await expect.poll(() => row.innerText()).toContain('generate');
      await expect.poll(() => row.innerText()).toContain('/ 2');
      await shot('fleet');

      await page.goto(`${consoleProc.url}/queues`);
      await page.getByText('docfleet-generate-any').first().click();
      await page.getByText('is named .pdf but is not a PDF').first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: path.join(ARTIFACTS, 'queues.png') });
    },
    6 * 60_000,
  );

  it('pages through thousands of batches and a batch of 20,000 documents', async () => {
    const paged: FleetEnv = { url: redis.url, prefix: freshPrefix('console-pages') };
    const client = connectTo(redis.url);
    const store = new ResultStore(client, paged.prefix, 3600);
    const batches = 2_000;
    const documents = 20_000;
    const perPage = { batches: 50, documents: 50 };
    const meta = (i: number): BatchMeta => ({
      id: `b${String(i).padStart(5, '0')}`,
      createdAt: Date.now() - (batches - i) * 1000,
      tasks: ['summarize'],
      tag: 'any',
      params: {},
      inputs: { first: [], count: 0 },
      documents: 0,
      jobs: 0,
      duplicates: 0,
      refused: 0,
      cancelled: false,
      submitting: false,
    });
    const big = meta(batches - 1);
    const [line] = batchTaskLines(big);
    const docs = Array.from({ length: documents }, (_, i) => {
      const sha256 = createHash('sha256').update(String(i)).digest('hex');
      return { uri: `/data/doc-${i}.txt`, name: `doc-${i}.txt`, sha256, bytes: 1 };
    });
    const failing = Array.from({ length: documents / 300 }, (_, i) => i * 300);
    try {
      for (let i = 0; i < batches; i++) await store.batches.create(meta(i));
      for (let i = 0; i < documents; i += 1_000) {
        const page = docs.slice(i, i + 1_000);
        await store.batches.addLines(
          big.id,
          page,
          page.map((d) => line!.idOf(d.sha256)),
        );
      }
      // Every 300th document fails: more failures than one page shows, spread over the whole batch.
      for (const i of failing)
        await store.saveFailed(
          line!.idOf(docs[i]!.sha256),
          { batchId: big.id, doc: docs[i]!, task: 'summarize', params: {} },
          { category: 'malformed', message: 'broken', attempts: 1 },
        );
    } finally {
      client.disconnect();
    }
    const paging = await startConsoleProcess(paged);
    try {
      const get = async (p: string) => {
        const r = await fetch(`${paging.url}${p}`);
        expect(r.status, p).toBe(200);
        return r.text();
      };
      const batchPages = batches / perPage.batches;
      const first = await get('/');
      expect(first).toContain(`Batches (${batches})`);
      expect(first).toContain(`page 1 of ${batchPages}`);
      expect(first.match(/href="\/batches\/b\d+"/g)).toHaveLength(perPage.batches);
      expect(first).toContain(`/batches/${big.id}"`);
      const last = await get(`/?page=${batchPages}`);
      expect(last).toContain('/batches/b00000"');
      expect(last).not.toContain('rel="next"');

      const docPages = documents / perPage.documents;
      const end = await get(`/batches/${big.id}?page=${docPages}`);
      expect(end).toContain(`page ${docPages} of ${docPages}`);
      expect(end).toContain(`doc-${documents - 1}.txt`);
      expect(end).not.toContain(`doc-${documents - perPage.documents - 1}.txt`);
      expect(end).toContain(`${documents - failing.length} pending of ${documents}`);

      // The failed documents only: a page of them, then the rest from where the first page stopped.
      const shown = (page: string) => [...page.matchAll(/<td>(doc-\d+\.txt)<\/td>/g)].map((m) => m[1]);
      const failures = await get(`/batches/${big.id}?failed`);
      const more = /href="([^"]+)" rel="next">more failures/.exec(failures)?.[1]?.replace(/&amp;/g, '&');
      expect(more).toBeDefined();
      const rest = await get(more!);
      expect(rest).not.toContain('more failures');
      expect([...shown(failures), ...shown(rest)]).toEqual(failing.map((i) => `doc-${i}.txt`));
      expect(shown(failures)).toHaveLength(perPage.documents);
    } finally {
      await paging.stop();
    }
  }, 120_000);

  it('on an address other machines reach, refuses requests without the token and takes it as a header or a cookie', async () => {
    const host = ownAddress();
    const exposed = await startConsoleProcess(env, ['--host', host], { DOCFLEET_CONSOLE_TOKEN: TOKEN });
    try {
      const at = (p: string) => `http://${host}:${exposed.port}${p}`;
      for (const p of ['/', '/fleet', '/queues', '/queues/api/queues'])
        expect((await fetch(at(p))).status, p).toBe(401);
      expect((await fetch(at('/batches/x/retry'), { method: 'POST' })).status).toBe(401);
      expect((await fetch(at('/'), { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);

      const bearer = { authorization: `Bearer ${TOKEN}` };
      expect((await fetch(at('/'), { headers: bearer })).status).toBe(200);
      expect((await fetch(at('/queues/api/queues'), { headers: bearer })).status).toBe(200);

      // A browser opens it once with the token, and is sent on to the same page without it, holding a cookie.
      const first = await fetch(at(`/fleet?token=${TOKEN}`), { redirect: 'manual' });
      expect(first.status).toBe(303);
      expect(first.headers.get('location')).toBe('/fleet');
      const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
      expect(first.headers.get('set-cookie')).toMatch(/HttpOnly/i);
      expect((await fetch(at('/fleet'), { headers: { cookie } })).status).toBe(200);
    } finally {
      await exposed.stop();
    }
  }, 60_000);

  it('refuses forms posted from another site, and without a token any host name but a loopback one', async () => {
    const status = (method: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${consoleProc.url}/batches/none/retry`, { method, headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    const host = `127.0.0.1:${consoleProc.port}`;
    expect(await status('POST', { origin: 'http://evil.example' })).toBe(403);
    expect(await status('POST', { origin: `http://${host}` })).toBe(404);
    expect(await status('GET', { host: `evil.example:${consoleProc.port}` })).toBe(403);
    expect(await status('GET', { host: `localhost:${consoleProc.port}` })).toBe(404);
  });

  it('will not start on such an address without a token', async () => {
    const r = await runCli(env, ['console', '--host', '0.0.0.0', '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('pass --token');
  });
});

function started(w: WorkerProcess) {
  return w.logs.filter((l) => l.msg === 'job started');
}
