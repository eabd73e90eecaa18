import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A real `prometheus` (Debian package `prometheus`; `scripts/test-deps.sh` installs it) on a free port,
 * scraping the given targets every second, with its storage in a temp dir.
 */
export interface TestPrometheus {
  url: string;
  /** Instant query; throws with Prometheus's own message when the expression is rejected. */
  query(expr: string, time?: Date): Promise<PromSeries[]>;
  /** Range query, as a Grafana panel runs it. */
  queryRange(expr: string, start: Date, end: Date, stepSeconds: number): Promise<PromSeries[]>;
  /** Health of every loaded rule, by rule name. */
  ruleHealth(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/** A series of an instant (`value`) or a range (`values`) answer: [unix seconds, "number"]. */
export interface PromSeries {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

export interface PrometheusOptions {
  /** Scrape job name → host:port targets. */
  jobs: Record<string, string[]>;
  /** Absolute paths of rule files to load. */
  ruleFiles?: string[];
}

export async function startPrometheus(opts: PrometheusOptions): Promise<TestPrometheus> {
  const dir = await mkdtemp(path.join(tmpdir(), 'docfleet-prom-'));
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: Object.entries(opts.jobs).map(([job, targets]) => ({
      job_name: job,
      static_configs: [{ targets }],
    })),
  };
  // JSON is YAML, so no YAML writer is needed.
  await writeFile(path.join(dir, 'prometheus.yml'), JSON.stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) =>
      reject(
        new Error(
          `cannot start prometheus (install the Debian package \`prometheus\`: scripts/test-deps.sh): ${err.message}`,
        ),
      ),
    );
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await spawned;
    await waitReady(
      url,
      () => child.exitCode !== null,
      () => log,
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const api = async <T>(route: string, params: Record<string, string>): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${route}?${new URLSearchParams(params).toString()}`);
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success')
      throw new Error(`${body.errorType ?? res.status}: ${body.error ?? 'no error message'}`);
    return body.data;
  };
  const seconds = (d: Date) => String(d.getTime() / 1000);
  return {
    url,
    query: async (expr, time = new Date()) => {
      const data = await api<{ resultType: string; result: PromSeries[] | [number, string] }>('query', {
        query: expr,
        time: seconds(time),
      });
      // A scalar answer (e.g. `1 + 1`) is one unlabelled value.
      return data.resultType === 'scalar'
        ? [{ metric: {}, value: data.result as [number, string] }]
        : (data.result as PromSeries[]);
    },
    queryRange: async (expr, start, end, stepSeconds) =>
      (
        await api<{ result: PromSeries[] }>('query_range', {
          query: expr,
          start: seconds(start),
          end: seconds(end),
          step: String(stepSeconds),
        })
      ).result,
    ruleHealth: async () => {
      const data = await api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>(
        'rules',
        {},
      );
      const rules = data.groups.flatMap((g) => g.rules);
      return Object.fromEntries(rules.map((r) => [r.name, r.lastError ? `${r.health}: ${r.lastError}` : r.health]));
    },
    stop,
  };
}

async function waitReady(url: string, exited: () => boolean, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited()) throw new Error(`prometheus exited:\n${log()}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`prometheus not ready on ${url} after 20 s:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no free port'))));
    });
  });
}
