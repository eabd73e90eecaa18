import { spawn, type ChildProcess } from 'node:child_process';
import { loadProducerConfig } from '../../dist/shared/config.js';
import { freePort } from '../../dist/shared/local-redis.js';
import type { StoredResult } from '../../dist/shared/result-store.js';
import { Producer } from '../../dist/producer/producer.js';
import type { GenerationRun } from './child.js';
import { CLI, rssOf } from './common.js';

/** docfleet as it ships: worker processes of the built CLI, documents submitted through the Producer. */

export interface FleetEnv {
  redisUrl: string;
  prefix: string;
  modelPath: string;
  /** XDG_CACHE_HOME of the workers: where the thread tuner's choice is cached. */
  cacheHome: string;
}

export interface WorkerHandle {
  proc: ChildProcess;
  /** The worker's own 'model loaded' log line: threads, context size, load and tuning times. */
  loaded: Record<string, unknown>;
  stop(): Promise<void>;
}

/** Starts `docfleet worker` at its defaults, plus the given flags; resolves once it logs 'worker ready'. */
export async function startWorker(env: FleetEnv, flags: string[]): Promise<WorkerHandle> {
  const metricsPort = await freePort();
  const args = [CLI, 'worker', '--model', env.modelPath, '--metrics-port', String(metricsPort), ...flags];
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, REDIS_URL: env.redisUrl, DOCFLEET_PREFIX: env.prefix, LOG_FORMAT: 'json', XDG_CACHE_HOME: env.cacheHome },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let loaded: Record<string, unknown> | undefined;
  let tail = '';
  let buffered = '';
  let readyResolve!: () => void;
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      // Two lines per job at the default log level: look only at the few that matter.
      if (line.includes('"model loaded"')) loaded = JSON.parse(line) as Record<string, unknown>;
      else if (line.includes('"worker ready"')) readyResolve();
      else if (line.includes('"level":50') || line.includes('"level":40')) tail = (tail + line + '\n').slice(-4000);
    }
  });
  proc.stderr!.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => 'ready'),
    exited.then(() => 'exited'),
    new Promise((r) => (timer = setTimeout(() => r('timeout'), 120_000))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ready') {
    proc.kill('SIGKILL');
    throw new Error(`docfleet worker did not start (${outcome}):\n${tail}`);
  }
  return {
    proc,
    loaded: loaded ?? {},
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Submits every document under `dir` for summarize and waits until each job has a stored result. */
export async function submitAndWait(producer: Producer, dir: string, maxTokens: number, timeoutMs: number) {
  const t0 = Date.now();
  const submitted = await producer.submit([dir], { tasks: ['summarize'], params: { maxTokens } });
  const ids: string[] = [];
  for await (const page of producer.store.batchEntries(submitted.batch)) ids.push(...page.map((e) => e.jobId));
  const deadline = t0 + timeoutMs;
  // The workers record when each job finished, so polling often only costs them Redis time.
  const pollMs = ids.length > 200 ? 500 : 100;
  let pending = ids;
  for (;;) {
    const statuses = await producer.store.statuses(pending);
    pending = pending.filter((_, i) => statuses[i] === undefined);
    if (pending.length === 0) break;
    if (Date.now() > deadline) {
      throw new Error(`batch ${submitted.batch}: only ${ids.length - pending.length} of ${ids.length} jobs finished within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  const results: StoredResult[] = [];
  for (let i = 0; i < ids.length; i += 500) results.push(...((await producer.store.get(ids.slice(i, i + 500))) as StoredResult[]));
  return { t0, submitted, results };
}

/** Turns stored results into the same shape as the in-process runs. */
export function asRun(t0: number, results: StoredResult[], settings: Record<string, unknown>): GenerationRun {
  const failed = results.filter((r) => r.status !== 'completed');
  if (failed.length > 0) {
    throw new Error(`${failed.length} job(s) did not complete, e.g. ${JSON.stringify(failed[0]!.error ?? failed[0]!.status)}`);
  }
  const end = Math.max(...results.map((r) => r.finishedAt));
  return {
    docs: results.length,
    completed: results.length,
    tokensIn: results.reduce((n, r) => n + r.result!.tokensIn, 0),
    tokensOut: results.reduce((n, r) => n + r.result!.tokensOut, 0),
    wallMs: end - t0,
    latencyMs: results.map((r) => r.result!.timings.totalMs),
    e2eMs: results.map((r) => r.finishedAt - t0),
    settings,
  };
}

export interface FleetRunOptions {
  workers: number;
  /** docfleet --concurrency (context sequences per worker). */
  sequences: number;
  contextSize: number;
  maxTokens: number;
  docsDir: string;
}

/** One measured docfleet run: start the workers, submit the documents, wait for every result, stop. */
export async function fleetRun(env: FleetEnv, opts: FleetRunOptions): Promise<GenerationRun> {
  const flags = ['--context-size', String(opts.contextSize), '--concurrency', String(opts.sequences)];
  const workers: WorkerHandle[] = [];
  const producer = new Producer(loadProducerConfig({}, { REDIS_URL: env.redisUrl, DOCFLEET_PREFIX: env.prefix }));
  try {
    // Started one after the other: two thread tuners measuring at once would disturb each other.
    for (let i = 0; i < opts.workers; i++) workers.push(await startWorker(env, flags));
    const { t0, results } = await submitAndWait(producer, opts.docsDir, opts.maxTokens, 180_000);
    const first = workers[0]!.loaded;
    return asRun(t0, results, {
      workers: opts.workers,
      sequences: first.sequences,
      contextSize: first.contextSize,
      threads: first.threads,
      flashAttention: first.flashAttention,
      threadSource: first.threadSource,
      loadMs: workers.map((w) => w.loaded.loadMs),
    });
  } finally {
    await producer.close();
    await Promise.all(workers.map((w) => w.stop()));
  }
}

export interface MemoryRun {
  rssReadyBytes: number;
  rssAfterFirstBytes: number;
  rssAfterAllBytes: number;
  firstJobs: number;
  allJobs: number;
  /** rssAfterAll / rssAfterFirst - 1 */
  growth: number;
  jobsPerSecond: number;
}

/** One worker at its defaults: RSS once ready, after the first batch of jobs, and after all of them. */
export async function memoryRun(env: FleetEnv, contextSize: number, maxTokens: number, firstDir: string, restDir: string): Promise<MemoryRun> {
  const worker = await startWorker(env, ['--context-size', String(contextSize)]);
  const producer = new Producer(loadProducerConfig({}, { REDIS_URL: env.redisUrl, DOCFLEET_PREFIX: env.prefix }));
  try {
    const pid = worker.proc.pid!;
    const settle = () => new Promise((r) => setTimeout(r, 1_000));
    const rssReadyBytes = await rssOf(pid);
    const first = await submitAndWait(producer, firstDir, maxTokens, 180_000);
    await settle();
    const rssAfterFirstBytes = await rssOf(pid);
    const rest = await submitAndWait(producer, restDir, maxTokens, 300_000);
    await settle();
    const rssAfterAllBytes = await rssOf(pid);
    const all = [...first.results, ...rest.results];
    const restRun = asRun(rest.t0, rest.results, {});
    return {
      rssReadyBytes,
      rssAfterFirstBytes,
      rssAfterAllBytes,
      firstJobs: first.results.length,
      allJobs: all.length,
      growth: rssAfterAllBytes / rssAfterFirstBytes - 1,
      jobsPerSecond: (restRun.docs * 1000) / restRun.wallMs,
    };
  } finally {
    await producer.close();
    await worker.stop();
  }
}
