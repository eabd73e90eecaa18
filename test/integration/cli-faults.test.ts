import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/shared/local-redis.js';
import { runCli, startWorker, type CliResult, type FleetEnv } from '../helpers/fleet.js';
import { TEST_MODEL } from '../helpers/paths.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * The built CLI (dist/cli.js) facing the mistakes users make: each ends with its documented exit code and one line
 * on stderr that names the option and says what to do, never a stack trace.
 */

let redis: TestRedis;
let env: FleetEnv;
let dir: string;
let text: string;

beforeAll(async () => {
  redis = await startRedis();
  env = { url: redis.url, prefix: freshPrefix('cli') };
  dir = await mkdtemp(path.join(os.tmpdir(), 'docfleet-cli-'));
  text = path.join(dir, 'note.txt');
  await writeFile(text, 'The parties agree to keep this note short.\n');
  await writeFile(path.join(dir, 'broken.json'), '{"type": "object",');
  await writeFile(path.join(dir, 'picture.gif'), 'GIF89a');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await redis.stop();
});

const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

/** Exit code 2 and exactly one line on stderr, matching `expected`. */
function expectUsageError(r: CliResult, expected: RegExp): void {
  expect(lines(r.stderr), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^docfleet: /);
  expect(r.stderr).toMatch(expected);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.code, r.stderr).toBe(2);
}

describe('docfleet CLI faults', () => {
  const usage: [string, () => string[], RegExp][] = [
    ['--priority abc', () => ['submit', text, '--task', 'summarize', '--priority', 'abc'], /'--priority <n>'.*'abc'/],
    ['--priority 0', () => ['submit', text, '--task', 'summarize', '--priority', '0'], /'--priority <n>'.*at least 1/],
    [
      '--max-tokens -5',
      () => ['submit', text, '--task', 'summarize', '--max-tokens', '-5'],
      /'--max-tokens <n>'.*'-5'/,
    ],
    [
      '--schema of a missing file',
      () => ['submit', text, '--task', 'extract', '--schema', path.join(dir, 'none.json')],
      /--schema .*none\.json: cannot read it \(no such file/,
    ],
    [
      '--schema of invalid JSON',
      () => ['submit', text, '--task', 'extract', '--schema', path.join(dir, 'broken.json')],
      /--schema .*broken\.json: not valid JSON/,
    ],
    [
      '--task of an unknown task',
      () => ['submit', text, '--task', 'sumarize'],
      /--task: "sumarize" is not a task; expected summarize, extract, embed/,
    ],
    ['submit without inputs', () => ['submit', '--task', 'summarize'], /no inputs/],
    [
      'results --out into a missing directory',
      () => ['results', 'some-batch', '--out', path.join(dir, 'no/such/dir/r.jsonl')],
      /--out .*r\.jsonl: cannot write it \(no such file or directory\); check that its directory exists/,
    ],
    [
      'exporter --port abc',
      () => ['exporter', '--port', 'abc'],
      /'--port <port>' argument 'abc' is invalid\. expected a whole number from 1 to 65535/,
    ],
    ['exporter --port 99999', () => ['exporter', '--port', '99999'], /'--port <port>' argument '99999'/],
    [
      'a bad value from the environment',
      () => ['status', 'b', '--redis-url', 'http://x'],
      /'--redis-url <url>' argument 'http:\/\/x'.*redis:\/\//,
    ],
    ['status --watch of an unknown batch', () => ['status', 'nope', '--watch'], /no batch "nope" \(wrong id/],
    ['failures of an unknown batch', () => ['failures', 'nope'], /no batch "nope" \(wrong id/],
    [
      'status --interval-ms 0',
      () => ['status', 'b', '--watch', '--interval-ms', '0'],
      /'--interval-ms <n>'.*at least 1/,
    ],
    [
      'pause of an unknown queue',
      () => ['pause', 'jobs'],
      /pause: no queue "jobs"; the queues are docfleet-generate-gpu, /,
    ],
    ['worker without a model', () => ['worker'], /--model \/ MODEL_PATH: is required/],
    ['an unknown command', () => ['frobnicate'], /unknown command 'frobnicate'/],
  ];

  it.each(usage)('%s: exit 2, one line', async (_name, args, expected) => {
    expectUsageError(await runCli(env, args()), expected);
  });

  it('names the variable when a bad value came from it', async () => {
    const r = await runCli(env, ['status', 'b'], { DOCFLEET_PREFIX: 'a b' });
    expectUsageError(r, /'--prefix <prefix>' value 'a b' from env 'DOCFLEET_PREFIX' is invalid/);
  });

  it('prints the stack of a user error only at LOG_LEVEL=debug', async () => {
    const r = await runCli(env, ['submit', text, '--task', 'extract', '--schema', path.join(dir, 'none.json')], {
      LOG_LEVEL: 'debug',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^docfleet: --schema/);
    expect(r.stderr).toMatch(/^\s+at /m);
  });

  it('exits 2 without a batch id when every input is refused', async () => {
    const r = await runCli(env, [
      'submit',
      path.join(dir, 'picture.gif'),
      path.join(dir, 'gone.pdf'),
      '--task',
      'embed',
    ]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr).filter((l) => l.startsWith('refused '))).toHaveLength(2);
    expect(lines(r.stderr).at(-1)).toBe('docfleet: nothing submitted: all 2 inputs were refused (reasons above)');
  });

  it('takes --task as a comma list, before the inputs, or in the old form with the inputs after --', async () => {
    const jobs = async (args: string[]) => {
      const r = await runCli(env, ['submit', '--json', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { jobs: number; duplicates: number };
    };
    const one = await jobs(['--task', 'summarize', text]);
    expect(one.jobs + one.duplicates).toBe(1);
    const two = await jobs(['--task', 'summarize,extract', text]);
    expect(two.jobs + two.duplicates).toBe(2);
    const old = await jobs(['--task', 'summarize', 'extract', 'embed', '--', text]);
    expect(old.jobs + old.duplicates).toBe(3);
    const after = await jobs([text, '--task', 'embed']);
    expect(after.jobs + after.duplicates).toBe(1);
  });

  it('refuses a metrics port in use in one line naming the flag and the port', async () => {
    const port = await freePort();
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(port, resolve));
    try {
      const r = await runCli(env, ['worker', '--model', TEST_MODEL, '--metrics-port', String(port)]);
      expectUsageError(r, new RegExp(`--metrics-port ${port}: the port is in use .*--metrics-port 0 picks one`));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('picks a free metrics port with --metrics-port 0 and logs it', async () => {
    const worker = await startWorker(env, ['--metrics-port', '0']);
    try {
      const serving = worker.logs.find((l) => l.msg === 'serving /metrics, /healthz, /readyz');
      const port = Number(serving?.port);
      expect(port).toBeGreaterThan(0);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      expect(await worker.stop()).toBe(0);
    }
  });
});
