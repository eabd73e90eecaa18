import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { loadProducerConfig } from '../../dist/shared/config.js';
import { jobIdFor } from '../../dist/shared/job-id.js';
import { freePort } from '../../dist/shared/local-redis.js';
import { queueName } from '../../dist/shared/queue-layout.js';
import type { StoredResult } from '../../dist/shared/result-store.js';
import { Producer } from '../../dist/producer/producer.js';
import type { GenerationRun } from './scenarios/generation-run.js';
import { CLI, killOnExit, percentile, round, rssOf } from './common.js';

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
  metricsPort: number;
  /** The worker's inspector (started with `inspect`), for forcing a garbage collection. */
  inspectorUrl?: string;
  /** The worker's own 'model loaded' log line: threads, context size, load and tuning times. */
  loaded: Record<string, unknown>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Start with the inspector on, so the memory run can force garbage collections. */
  inspect?: boolean;
  /** Pin the worker to this one CPU (taskset), as a pod limited to 1 CPU: its CPU budget is then 1. */
  cpu?: number;
  /** More directories the worker may read documents from. */
  documentsRoots?: string[];
  /** Called with every job log line ('job started', 'job completed', 'job waiting…'), parsed. */
  onJobLine?: (line: Record<string, unknown>) => void;
}

/** Starts `docfleet worker` at its defaults, plus the given flags; resolves once it logs 'worker ready'. */
export async function startWorker(env: FleetEnv, flags: string[], opts: StartOptions = {}): Promise<WorkerHandle> {
  const metricsPort = await freePort();
  const args = [CLI, 'worker', '--model', env.modelPath, '--metrics-port', String(metricsPort), ...flags];
  const [command, argv] =
    opts.cpu === undefined
      ? [process.execPath, args]
      : ['taskset', ['-c', String(opts.cpu), process.execPath, ...args]];
  const proc = spawn(command, argv, {
    env: {
      ...process.env,
      REDIS_URL: env.redisUrl,
      DOCFLEET_PREFIX: env.prefix,
      // The bench writes its documents into a temporary folder; the long-document run reads the corpus.
      DOCUMENTS_ROOTS: [os.tmpdir(), ...(opts.documentsRoots ?? [])].join(','),
      LOG_FORMAT: 'json',
      XDG_CACHE_HOME: env.cacheHome,
      // The memory run forces garbage collections through the inspector before reading the live heap.
      ...(opts.inspect ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0`.trim() } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(proc);
  let loaded: Record<string, unknown> | undefined;
  let tail = '';
  let buffered = '';
  let readyResolve!: () => void;
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  proc.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      // Two lines per job at the default log level: look only at the few that matter.
      if (opts.onJobLine && line.includes('"msg":"job ')) opts.onJobLine(JSON.parse(line) as Record<string, unknown>);
      if (line.includes('"model loaded"')) loaded = JSON.parse(line) as Record<string, unknown>;
      else if (line.includes('"worker ready"')) readyResolve();
      else if (line.includes('"level":50') || line.includes('"level":40')) tail = (tail + line + '\n').slice(-4000);
    }
  });
  let inspectorUrl: string | undefined;
  proc.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    inspectorUrl ??= /Debugger listening on (ws:\/\/\S+)/.exec(text)?.[1];
    tail = (tail + text).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => 'ready'),
    exited.then(() => 'exited'),
    new Promise<string>((r) => (timer = setTimeout(() => r('timeout'), 120_000))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ready') {
    proc.kill('SIGKILL');
    throw new Error(`docfleet worker did not start (${outcome}):\n${tail}`);
  }
  return {
    proc,
    metricsPort,
    inspectorUrl,
    loaded: loaded ?? {},
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Submits every document under `dir` for summarize and waits until each job has a stored result. With `held`
 * the queue is paused while the producer walks, hashes and enqueues, and the clock starts when it is resumed:
 * the workers then start from a full queue, as the ceiling starts from tokenised prompts, and the producer's
 * work (on another machine in a deployment) does not take CPU from them on this one.
 */
export async function submitAndWait(
  producer: Producer,
  dir: string,
  maxTokens: number,
  timeoutMs: number,
  held = false,
) {
  const queue = held ? producer.queue(queueName('generate', 'any')) : undefined;
  await queue?.pause();
  let t0 = Date.now();
  const submitted = await producer.submit([dir], { tasks: ['summarize'], params: { maxTokens } });
  if (queue) {
    t0 = Date.now();
    await queue.resume();
  }
  const ids: string[] = [];
  for await (const docs of producer.store.batches.documents(submitted.batch))
    ids.push(...docs.map((d) => jobIdFor(d.sha256, 'summarize', { maxTokens })));
  const deadline = t0 + timeoutMs;
  // The workers record when each job finished, so polling often only costs them Redis time.
  const pollMs = ids.length > 200 ? 500 : 100;
  let pending = ids;
  for (;;) {
    const statuses = await producer.store.statuses(pending);
    pending = pending.filter((_, i) => statuses[i] === undefined);
    if (pending.length === 0) break;
    if (Date.now() > deadline) {
      throw new Error(
        `batch ${submitted.batch}: only ${ids.length - pending.length} of ${ids.length} jobs finished within ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  const results: StoredResult[] = [];
  for (let i = 0; i < ids.length; i += 500)
    results.push(...((await producer.store.get(ids.slice(i, i + 500))) as StoredResult[]));
  return { t0, submitted, results };
}

/** Turns stored results into the same shape as the in-process runs. */
export function asRun(
  t0: number,
  results: StoredResult[],
  slots: number,
  settings: Record<string, unknown>,
): GenerationRun {
  const failed = results.filter((r) => r.status !== 'completed');
  if (failed.length > 0) {
    throw new Error(
      `${failed.length} job(s) did not complete, e.g. ${JSON.stringify(failed[0]!.error ?? failed[0]!.status)}`,
    );
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
    // totalMs ends just before the result is written, so this is the start to within a millisecond or so.
    startMs: results.map((r) => r.finishedAt - t0 - r.result!.timings.totalMs),
    firstTokenMs: results.flatMap((r) => r.result!.timings.firstTokenMs ?? []),
    slots,
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
  /** Pin worker i to CPU i (one CPU each), as pods of 1 CPU; otherwise every worker sees the whole machine. */
  pinned?: boolean;
  /** How long the timed batch may take (default 180 s). */
  timeoutMs?: number;
  /** More `docfleet worker` flags. */
  flags?: string[];
  /**
   * Documents the workers summarize first, untimed (8 tokens each), as the ceiling warms up with one short
   * generation per sequence: the timed batch then meets a worker whose code V8 has compiled, as in production.
   */
  warmupDir?: string;
}

/** One measured docfleet run: start the workers, submit the documents, wait for every result, stop. */
export async function fleetRun(env: FleetEnv, opts: FleetRunOptions): Promise<GenerationRun> {
  const flags = [
    '--context-size',
    String(opts.contextSize),
    '--concurrency',
    String(opts.sequences),
    ...(opts.flags ?? []),
  ];
  const workers: WorkerHandle[] = [];
  const producer = new Producer(loadProducerConfig({ REDIS_URL: env.redisUrl, DOCFLEET_PREFIX: env.prefix }));
  try {
    // Started one after the other: two thread tuners measuring at once would disturb each other.
    for (let i = 0; i < opts.workers; i++) workers.push(await startWorker(env, flags, opts.pinned ? { cpu: i } : {}));
    if (opts.warmupDir) await submitAndWait(producer, opts.warmupDir, 8, 60_000);
    const { t0, results } = await submitAndWait(
      producer,
      opts.docsDir,
      opts.maxTokens,
      opts.timeoutMs ?? 180_000,
      true,
    );
    const first = workers[0]!.loaded;
    return asRun(t0, results, opts.workers * opts.sequences, {
      workers: opts.workers,
      sequences: first.sequences,
      contextSize: first.contextSize,
      threads: first.threads,
      contexts: first.contexts,
      cpuBudget: first.cpuBudget,
      flashAttention: first.flashAttention,
      threadSource: first.threadSource,
      loadMs: workers.map((w) => w.loaded.loadMs),
    });
  } finally {
    await producer.close();
    await Promise.all(workers.map((w) => w.stop()));
  }
}

export interface MemoryPoint {
  /** Jobs the worker has finished so far (0: just started). */
  jobs: number;
  /** RSS as it is, after a second idle. */
  rssBytes: number;
  /** V8 heap in use as it is (live objects and garbage not yet collected), from the worker's /metrics. */
  heapUsedBytes: number | null;
  /** After forcing full garbage collections through the inspector: RSS and the live heap. */
  rssAfterGcBytes: number | null;
  liveHeapBytes: number | null;
}

export interface MemoryRun {
  points: MemoryPoint[];
  /** RSS after all jobs / RSS after the first batch - 1 (as it is: depends on when V8 last collected). */
  growth: number;
  /** The same for the live heap and for RSS after forced GC (null without the inspector). */
  liveHeapGrowth: number | null;
  rssAfterGcGrowth: number | null;
  /** The last batch: its rate, and how its time was spent. */
  lastBatch: {
    jobs: number;
    jobsPerSecond: number;
    jobLatencyP50Ms: number | null;
    firstStartMs: number;
    slotUtilization: number;
  };
}

async function heapUsed(metricsPort: number): Promise<number | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const m = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([\d.e+]+)$/m.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

interface MinimalWebSocket {
  send(data: string): void;
  close(): void;
  addEventListener(type: 'open' | 'message' | 'error' | 'close', listener: (event: { data?: unknown }) => void): void;
}

/**
 * Forces full garbage collections in another Node process through its inspector (Chrome DevTools
 * Protocol). Needs a WebSocket client: Node 20 has one behind --experimental-websocket, which the
 * bench script passes. Returns false when it cannot.
 */
async function collectGarbage(inspectorUrl: string | undefined): Promise<boolean> {
  const WS = (globalThis as unknown as { WebSocket?: new (url: string) => MinimalWebSocket }).WebSocket;
  if (!inspectorUrl || !WS) return false;
  const ws = new WS(inspectorUrl);
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 30_000);
      let id = 0;
      // Twice: objects freed by finalizers of the first pass go in the second.
      const next = () => {
        if (++id <= 2) {
          ws.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }));
        } else {
          clearTimeout(timer);
          resolve(true);
        }
      };
      ws.addEventListener('open', next);
      ws.addEventListener('message', (event) => {
        if ((JSON.parse(String(event.data)) as { id?: number }).id === id) next();
      });
      ws.addEventListener('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
  } finally {
    ws.close();
  }
}

/** One worker at its defaults: memory once ready and after each batch of jobs (the directories, in order). */
export async function memoryRun(
  env: FleetEnv,
  contextSize: number,
  maxTokens: number,
  dirs: string[],
): Promise<MemoryRun> {
  const worker = await startWorker(env, ['--context-size', String(contextSize)], { inspect: true });
  const producer = new Producer(loadProducerConfig({ REDIS_URL: env.redisUrl, DOCFLEET_PREFIX: env.prefix }));
  try {
    const pid = worker.proc.pid!;
    const point = async (jobs: number, collect: boolean): Promise<MemoryPoint> => {
      // Let the worker go idle (timers, pending writes) before reading.
      await new Promise((r) => setTimeout(r, 1_000));
      const rssBytes = await rssOf(pid);
      const heapUsedBytes = await heapUsed(worker.metricsPort);
      const collected = collect && (await collectGarbage(worker.inspectorUrl));
      return {
        jobs,
        rssBytes,
        heapUsedBytes,
        rssAfterGcBytes: collected ? await rssOf(pid) : null,
        liveHeapBytes: collected ? await heapUsed(worker.metricsPort) : null,
      };
    };
    // No forced collection before the first batch: the RSS after it would then be that of a heap shrunk by
    // the benchmark, not the worker's own. Later readings come several hundred jobs after the last one.
    const points = [await point(0, false)];
    let done = 0;
    let last: Awaited<ReturnType<typeof submitAndWait>> | undefined;
    for (const dir of dirs) {
      last = await submitAndWait(producer, dir, maxTokens, 300_000);
      done += last.results.length;
      points.push(await point(done, true));
    }
    const slots = Number(worker.loaded.sequences ?? 1);
    const lastRun = asRun(last!.t0, last!.results, slots, {});
    const first = points[1]!;
    const end = points[points.length - 1]!;
    return {
      points,
      growth: end.rssBytes / first.rssBytes - 1,
      liveHeapGrowth: first.liveHeapBytes && end.liveHeapBytes ? end.liveHeapBytes / first.liveHeapBytes - 1 : null,
      rssAfterGcGrowth:
        first.rssAfterGcBytes && end.rssAfterGcBytes ? end.rssAfterGcBytes / first.rssAfterGcBytes - 1 : null,
      lastBatch: {
        jobs: lastRun.docs,
        jobsPerSecond: round((lastRun.docs * 1000) / lastRun.wallMs, 1),
        jobLatencyP50Ms: percentile(lastRun.latencyMs, 50),
        firstStartMs: Math.round(Math.min(...lastRun.startMs)),
        slotUtilization: round(lastRun.latencyMs.reduce((a, b) => a + b, 0) / (lastRun.wallMs * slots), 3),
      },
    };
  } finally {
    await producer.close();
    await worker.stop();
  }
}
