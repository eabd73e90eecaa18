import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { batchStatus, type BatchStatus } from '../../src/producer/batch-control.js';
import { Producer } from '../../src/producer/producer.js';
import { loadProducerConfig } from '../../src/shared/config.js';
import { freePort } from '../../src/shared/local-redis.js';
import { CLI, ROOT, SHARED, TEST_MODEL } from './paths.js';

/**
 * Where the tests' documents live (their temporary folders, the fixtures and samples, the shared corpus): the
 * roots a test worker may read. An environment variable, so that a test's own `--documents-root` replaces it.
 */
export const TEST_DOCUMENTS_ROOTS = [os.tmpdir(), ROOT, SHARED].join(',');

/** A `docfleet worker` process of the built CLI, with its JSON log lines collected. */
export interface WorkerProcess {
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  /** Port of its /metrics, /healthz and /readyz. */
  metricsPort: number;
  /** What it wrote to stderr so far (nothing, when all goes well: its log is JSON on stdout). */
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface FleetEnv {
  url: string;
  prefix: string;
  /** More environment for every process and connection of the test (Redis password file, CA, Sentinels, …). */
  extra?: Record<string, string>;
}

/** The environment a test's processes and connections see. */
export function fleetEnvironment(env: FleetEnv): Record<string, string> {
  return { REDIS_URL: env.url, DOCFLEET_PREFIX: env.prefix, ...env.extra };
}

/**
 * Starts a worker and, unless `waitReady` is false (a worker started while Redis is down), waits for its
 * `worker ready` line.
 */
export async function startWorker(
  env: FleetEnv,
  args: string[] = [],
  { waitReady = true }: { waitReady?: boolean } = {},
): Promise<WorkerProcess> {
  const metricsPort = await freePort();
  // A short context keeps the test model quick (its attention cost grows with the square of the prompt);
  // what these tests check is the fleet, not the summaries. Later flags in `args` win.
  const defaults = ['--model', TEST_MODEL, '--metrics-port', String(metricsPort), '--context-size', '512'];
  const proc = spawn(process.execPath, [CLI, 'worker', ...defaults, ...args], {
    env: {
      ...process.env,
      DOCUMENTS_ROOTS: TEST_DOCUMENTS_ROOTS,
      ...fleetEnvironment(env),
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
  });
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const ready =
    !waitReady ||
    (await Promise.race([
      waitFor(() => logs.some((l) => l.msg === 'worker ready'), 60_000).then(() => true),
      exited.then(() => false),
    ]));
  if (!ready) throw new Error(`worker did not start:\n${stderr}\n${logs.map((l) => JSON.stringify(l)).join('\n')}`);
  return {
    proc,
    logs,
    exited,
    metricsPort,
    stderr: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(env: FleetEnv, args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...fleetEnvironment(env), LOG_FORMAT: 'json', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export async function cliJson<T>(env: FleetEnv, args: string[]): Promise<T> {
  const r = await runCli(env, [...args, '--json']);
  if (r.code !== 0) throw new Error(`docfleet ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** JSON lines as a command prints them, each parsed. */
export function jsonLines<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string) = 'condition',
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Waits until the batch has nothing waiting, active or delayed, then returns `docfleet status --json`.
 * Polls through the library: a CLI process per poll would take CPU from the workers under test.
 */
export async function waitForBatch(env: FleetEnv, batch: string, timeoutMs: number): Promise<BatchStatusJson> {
  const producer = new Producer(loadProducerConfig(fleetEnvironment(env)));
  try {
    let last: BatchStatus | undefined;
    await waitFor(
      async () => {
        last = await batchStatus(producer, batch);
        return last.done;
      },
      timeoutMs,
      () => `batch ${batch} to finish (last: ${JSON.stringify(last)})`,
      500,
    );
  } finally {
    await producer.close();
  }
  return cliJson<BatchStatusJson>(env, ['status', batch]);
}

/** `docfleet status --json` prints the library's BatchStatus. */
export type BatchStatusJson = BatchStatus;

/**
 * The lines of `docfleet results`, parsed as they come: each test reads the fields it checks.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON lines of several shapes; tests pick fields
export async function readResults(env: FleetEnv, batch: string): Promise<Record<string, any>[]> {
  const r = await runCli(env, ['results', batch]);
  if (r.code !== 0) throw new Error(`results failed: ${r.stderr}`);
  return (
    r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
      .map((l) => JSON.parse(l) as Record<string, any>)
  );
}
