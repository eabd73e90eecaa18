import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Producer } from '../../src/producer/producer.js';
import { loadProducerConfig } from '../../src/shared/config.js';
import type { DocumentRef, Tag } from '../../src/shared/job-types.js';
import { readResults, runCli, startWorker, waitForBatch, type FleetEnv, type WorkerProcess } from '../helpers/fleet.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

const CONTRACT = 'MUTUAL NON-DISCLOSURE AGREEMENT. The parties agree to keep each other’s information confidential.';
/** Short, cheap summaries: what is tested is whether the worker reads the document at all. */
const PARAMS = { mapReduce: false, maxTokens: 8 };

/**
 * Workers against jobs naming documents they must not read: written through the library, as anyone who can
 * write to Redis could, past the checks `submit` makes. Two workers: `cpu` is strict (one documents root, one
 * URL prefix, no private addresses), `gpu` also fetches from private addresses, as an intranet fleet would.
 */
describe('document access policy, enforced by workers', () => {
  let redis: TestRedis;
  let env: FleetEnv;
  let producer: Producer;
  let server: Server;
  let origin: string;
  const workers: WorkerProcess[] = [];

  const base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'docfleet-access-')));
  const root = path.join(base, 'root');
  const submitted = path.join(root, 'submitted');
  const sibling = path.join(root, 'sibling');
  const outside = path.join(base, 'outside');
  for (const dir of [submitted, sibling, outside]) mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(submitted, 'contract.txt'), CONTRACT);
  writeFileSync(path.join(sibling, 'other.txt'), `${CONTRACT} (a copy)`);
  writeFileSync(path.join(outside, 'secret.txt'), 'the database password is hunter2');
  symlinkSync(path.join(outside, 'secret.txt'), path.join(submitted, 'innocent.txt'));
  symlinkSync(path.join(sibling, 'other.txt'), path.join(submitted, 'neighbour.txt'));

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = req.url ?? '/';
      if (url === '/docs/nda.txt') res.end(CONTRACT);
      else if (url === '/docs/moved.txt') res.writeHead(302, { location: '/internal/secret.txt' }).end();
      else if (url.startsWith('/internal/') || url.startsWith('/other/')) res.end('internal data');
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    redis = await startRedis();
    env = { url: redis.url, prefix: freshPrefix('access') };
    // The producer allows more than the workers do, so that the jobs reach them.
    producer = new Producer(
      loadProducerConfig({
        REDIS_URL: env.url,
        DOCFLEET_PREFIX: env.prefix,
        DOCFLEET_ALLOW_URL_PREFIXES: origin,
        DOCFLEET_ALLOW_PRIVATE_ADDRESSES: 'true',
      }),
    );
    const common = ['--role', 'generate', '--concurrency', '2', '--allow-url-prefix', `${origin}/docs/`];
    workers.push(
      ...(await Promise.all([
        startWorker(env, [...common, '--tag', 'cpu', '--documents-root', root]),
        startWorker(env, [...common, '--tag', 'gpu', '--documents-root', root, '--allow-private-addresses']),
      ])),
    );
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset until the first test's setup
    await producer?.close();
    await redis.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function ref(uri: string, tag: Tag): DocumentRef {
    // A hash per reference and worker, so that no two of them are one job.
    return { uri, name: uri, sha256: createHash('sha256').update(`${tag} ${uri}`).digest('hex'), bytes: 100 };
  }

  /** Submits the references as one batch to the tagged worker and returns each document's outcome. */
  async function outcomes(uris: string[], tag: Tag, roots?: string[]): Promise<Record<string, string>> {
    const r = await producer.submitDocuments(
      uris.map((uri) => ref(uri, tag)),
      { tasks: ['summarize'], tag, params: PARAMS, roots },
    );
    expect(r.refused).toBe(0);
    const status = await waitForBatch(env, r.batch, 90_000);
    expect(status).toMatchObject({ total: uris.length, pending: 0 });
    const lines = (await readResults(env, r.batch)) as {
      status: string;
      job: { doc: { uri: string } };
      error: { category: string; message: string };
    }[];
    expect(lines).toHaveLength(uris.length);
    return Object.fromEntries(
      lines.map((l) => [l.job.doc.uri, l.status === 'failed' ? `${l.error.category}: ${l.error.message}` : l.status]),
    );
  }

  it('reads files under its root; refuses a link out of it and files outside it', async () => {
    const got = await outcomes(
      [path.join(submitted, 'contract.txt'), path.join(submitted, 'innocent.txt'), path.join(outside, 'secret.txt')],
      'cpu',
    );
    expect(got[path.join(submitted, 'contract.txt')]).toBe('completed');
    expect(got[path.join(submitted, 'innocent.txt')]).toMatch(/^forbidden: .*links to .*secret\.txt.*--documents-root/);
    expect(got[path.join(outside, 'secret.txt')]).toMatch(/^forbidden: /);
  });

  it('refuses a link to another folder under its root when the batch recorded where it came from', async () => {
    const got = await outcomes([path.join(submitted, 'contract.txt'), path.join(submitted, 'neighbour.txt')], 'cpu', [
      submitted,
    ]);
    expect(got[path.join(submitted, 'contract.txt')]).toBe('completed');
    expect(got[path.join(submitted, 'neighbour.txt')]).toMatch(/^forbidden: .*batch was submitted from/);
  });

  it('refuses loopback addresses unless allowed, URLs under no prefix, and redirects out of the prefixes', async () => {
    const strict = await outcomes([`${origin}/docs/nda.txt`, `${origin}/other/page.txt`], 'cpu');
    expect(strict[`${origin}/docs/nda.txt`]).toMatch(/^forbidden: .*loopback.*--allow-private-addresses/);
    expect(strict[`${origin}/other/page.txt`]).toMatch(/^forbidden: .*--allow-url-prefix/);

    const lenient = await outcomes(
      [`${origin}/docs/nda.txt`, `${origin}/other/page.txt`, `${origin}/docs/moved.txt`],
      'gpu',
    );
    expect(lenient[`${origin}/docs/nda.txt`]).toBe('completed');
    expect(lenient[`${origin}/other/page.txt`]).toMatch(/^forbidden: /);
    expect(lenient[`${origin}/docs/moved.txt`]).toMatch(/^forbidden: .*\/internal\/secret\.txt/);
  });

  it('submit refuses a URL unless a prefix allows it, and a link out of the folder it walks', async () => {
    const url = await runCli(env, ['submit', `${origin}/docs/nda.txt`, '--task', 'summarize']);
    expect(url.stderr).toMatch(/refused .*nda\.txt: .*--allow-url-prefix/);
    const folder = await runCli(env, ['submit', submitted, '--task', 'summarize', '--json']);
    expect(folder.stderr).toMatch(/refused .*innocent\.txt: links to .*secret\.txt, outside/);
    expect(folder.stderr).toMatch(/refused .*neighbour\.txt: links to .*other\.txt, outside/);
    expect(JSON.parse(folder.stdout)).toMatchObject({ refused: 2 });
  });
});
