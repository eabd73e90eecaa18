import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { detectCpuBudget } from '../../dist/shared/cpu-budget.js';
import { startLocalRedis } from '../../dist/shared/local-redis.js';
import type { CeilingInput, GenerationRun, NaiveInput, QueueInput, QueueRun } from './child.js';
import {
  CLI,
  DEFAULT_MODEL,
  log,
  markdownTable,
  percentile,
  RESULTS_DIR,
  ratio,
  round,
  runChild,
  WORKLOAD,
  writeDocuments,
} from './common.js';
import { fleetRun, memoryRun, type FleetEnv, type MemoryRun } from './fleet.js';

/**
 * `npm run bench -- throughput|scaling|all`: measures docfleet against node-llama-cpp driven directly
 * (the ceiling), against a naive BullMQ worker, and its queue paths against plain BullMQ; prints
 * tables and writes bench/results/{throughput,scaling}.json. Everything runs on one throwaway Redis.
 */

const NAIVE_CAP_MS = 60_000;
const QUEUE_JOBS = 5_000;
const QUEUE_CONCURRENCIES = [WORKLOAD.sequences, 16];
const SCALING_SEQUENCES = [1, 4, 16];
const MEMORY = { first: 200, all: 2_000, maxTokens: 8 };
const TARGETS = { docfleetVsCeiling: 0.9, queueVsRaw: 0.8 };

interface Summary {
  docs: number;
  completed: number;
  tokensIn: number;
  tokensOut: number;
  wallSeconds: number;
  tokensPerSecond: number;
  documentsPerSecond: number;
  /** A job from its start (worker took it / sequence began) to its result, ms. */
  jobLatencyMs: { p50: number | null; p95: number | null };
  /** From submitting the whole set to the job's result, ms. */
  endToEndMs: { p50: number | null; p95: number | null };
  settings: Record<string, unknown>;
}

function summarize(run: GenerationRun): Summary {
  const s = run.wallMs / 1000;
  const pct = (v: number[]) => ({ p50: nullableRound(percentile(v, 50)), p95: nullableRound(percentile(v, 95)) });
  return {
    docs: run.docs,
    completed: run.completed,
    tokensIn: run.tokensIn,
    tokensOut: run.tokensOut,
    wallSeconds: round(s, 2),
    tokensPerSecond: round(run.tokensOut / s),
    documentsPerSecond: round(run.completed / s, 3),
    jobLatencyMs: pct(run.latencyMs),
    endToEndMs: pct(run.e2eMs),
    settings: run.settings,
  };
}

function nullableRound(n: number | null): number | null {
  return n === null ? null : Math.round(n);
}

interface Context {
  redisUrl: string;
  modelPath: string;
  tmp: string;
  cacheHome: string;
  docsDir: string;
  files: string[];
  prefix: () => string;
  flush: () => Promise<void>;
  docfleetDefault?: Summary;
}

async function throughput(ctx: Context) {
  const base = { modelPath: ctx.modelPath, files: ctx.files, maxTokens: WORKLOAD.maxTokens };
  log(`ceiling: node-llama-cpp directly, ${WORKLOAD.sequences} sequences, ${ctx.files.length} documents`);
  const ceilingInput: CeilingInput = {
    ...base,
    contextSize: WORKLOAD.contextSize,
    sequences: WORKLOAD.sequences,
    tuneCacheDir: path.join(ctx.cacheHome, 'docfleet'),
  };
  const ceiling = summarize(await runChild<GenerationRun>('ceiling', ceilingInput));

  log('docfleet: one `docfleet worker` process at its defaults (context size 512), documents through the Producer');
  const docfleet = summarize(await fleetRun(fleetEnv(ctx), { workers: 1, sequences: WORKLOAD.sequences, contextSize: WORKLOAD.contextSize, maxTokens: WORKLOAD.maxTokens, docsDir: ctx.docsDir }));
  ctx.docfleetDefault = docfleet;
  await ctx.flush();

  log(`naive: BullMQ worker, concurrency 1, library defaults, capped at ${NAIVE_CAP_MS / 1000} s`);
  const naiveInput: NaiveInput = { ...base, redisUrl: ctx.redisUrl, capMs: NAIVE_CAP_MS };
  const naive = summarize(await runChild<GenerationRun>('naive', naiveInput));
  await ctx.flush();

  const queue: { concurrency: number; raw: QueueRun; docfleet: QueueRun }[] = [];
  const queueDocs = path.join(ctx.tmp, 'queue-docs');
  await writeDocuments(queueDocs, QUEUE_JOBS, 100_000, 2);
  for (const concurrency of QUEUE_CONCURRENCIES) {
    log(`queue overhead: ${QUEUE_JOBS} no-op jobs at concurrency ${concurrency}, plain BullMQ then docfleet`);
    const input: QueueInput = { redisUrl: ctx.redisUrl, jobs: QUEUE_JOBS, concurrency, prefix: ctx.prefix() };
    const raw = await runChild<QueueRun>('queue-raw', input);
    await ctx.flush();
    const df = await runChild<QueueRun>('queue-docfleet', { ...input, prefix: ctx.prefix(), docsDir: queueDocs });
    await ctx.flush();
    queue.push({ concurrency, raw, docfleet: df });
  }

  const rate = (jobs: number, ms: number) => round((jobs * 1000) / ms);
  const queueRows = queue.map(({ concurrency, raw, docfleet: df }) => {
    const r = { enqueue: rate(raw.jobs, raw.enqueueMs), process: rate(raw.jobs, raw.processMs) };
    const d = { enqueue: rate(df.jobs, df.enqueueMs), process: rate(df.jobs, df.processMs), walkMs: Math.round(df.walkMs ?? 0) };
    return {
      concurrency,
      jobs: raw.jobs,
      rawJobsPerSecond: r,
      docfleetJobsPerSecond: d,
      ratio: { enqueue: ratio(d.enqueue, r.enqueue), process: ratio(d.process, r.process) },
    };
  });

  const ratios = {
    docfleetVsCeiling: { tokensPerSecond: ratio(docfleet.tokensPerSecond, ceiling.tokensPerSecond), documentsPerSecond: ratio(docfleet.documentsPerSecond, ceiling.documentsPerSecond) },
    docfleetVsNaive: { tokensPerSecond: ratio(docfleet.tokensPerSecond, naive.tokensPerSecond), documentsPerSecond: ratio(docfleet.documentsPerSecond, naive.documentsPerSecond) },
  };
  const atDefault = queueRows.find((q) => q.concurrency === WORKLOAD.sequences)!;
  const targets = {
    docfleetVsCeiling: { target: TARGETS.docfleetVsCeiling, measured: ratios.docfleetVsCeiling.tokensPerSecond, met: (ratios.docfleetVsCeiling.tokensPerSecond ?? 0) >= TARGETS.docfleetVsCeiling },
    queueEnqueueVsRaw: { target: TARGETS.queueVsRaw, measured: atDefault.ratio.enqueue, met: (atDefault.ratio.enqueue ?? 0) >= TARGETS.queueVsRaw },
    queueProcessVsRaw: { target: TARGETS.queueVsRaw, measured: atDefault.ratio.process, met: (atDefault.ratio.process ?? 0) >= TARGETS.queueVsRaw },
  };

  const row = (name: string, s: Summary) => [
    name,
    `${s.completed}/${s.docs}`,
    s.tokensOut,
    s.wallSeconds,
    s.tokensPerSecond,
    s.documentsPerSecond,
    s.jobLatencyMs.p50,
    s.jobLatencyMs.p95,
    s.endToEndMs.p50,
    s.endToEndMs.p95,
    String(s.settings.threads ?? '—'),
    String(s.settings.sequences ?? '—'),
  ];
  const header = ['run', 'docs done', 'tokens out', 'wall s', 'tokens/s', 'docs/s', 'job p50 ms', 'job p95 ms', 'e2e p50 ms', 'e2e p95 ms', 'threads', 'sequences'];
  const out = [
    `### Throughput (${ctx.files.length} documents, summarize, max ${WORKLOAD.maxTokens} tokens, context ${WORKLOAD.contextSize} per sequence)`,
    '',
    markdownTable(header, [row('ceiling (node-llama-cpp directly)', ceiling), row('docfleet worker (defaults)', docfleet), row(`naive BullMQ worker (capped ${NAIVE_CAP_MS / 1000} s)`, naive)]),
    '',
    `docfleet / ceiling: ${ratios.docfleetVsCeiling.tokensPerSecond} (tokens/s), ${ratios.docfleetVsCeiling.documentsPerSecond} (docs/s) — target ≥ ${TARGETS.docfleetVsCeiling}: ${targets.docfleetVsCeiling.met ? 'MET' : 'NOT MET'}`,
    `docfleet / naive:   ${ratios.docfleetVsNaive.tokensPerSecond} (tokens/s), ${ratios.docfleetVsNaive.documentsPerSecond ?? 'n/a (naive finished no document)'} (docs/s)`,
    '',
    `### Queue overhead (${QUEUE_JOBS} no-op jobs, jobs/s)`,
    '',
    markdownTable(
      ['concurrency', 'raw addBulk', 'docfleet submit', 'ratio', 'raw Worker', 'docfleet SlotScheduler', 'ratio'],
      queueRows.map((q) => [q.concurrency, q.rawJobsPerSecond.enqueue, q.docfleetJobsPerSecond.enqueue, q.ratio.enqueue, q.rawJobsPerSecond.process, q.docfleetJobsPerSecond.process, q.ratio.process]),
    ),
    '',
    `docfleet submit includes walking and hashing the ${QUEUE_JOBS} files (${queueRows.map((q) => `${q.docfleetJobsPerSecond.walkMs} ms`).join(', ')} of it).`,
    `queue overhead at concurrency ${WORKLOAD.sequences}, target ≥ ${TARGETS.queueVsRaw}: enqueue ${targets.queueEnqueueVsRaw.measured} ${targets.queueEnqueueVsRaw.met ? 'MET' : 'NOT MET'}, process ${targets.queueProcessVsRaw.measured} ${targets.queueProcessVsRaw.met ? 'MET' : 'NOT MET'}`,
  ].join('\n');
  return { json: { ceiling, docfleet, naive, ratios, queue: queueRows, targets }, text: out };
}

async function scaling(ctx: Context) {
  const runs: { workers: number; sequences: number; summary: Summary }[] = [];
  const plan = [...SCALING_SEQUENCES.map((sequences) => ({ workers: 1, sequences })), { workers: 2, sequences: WORKLOAD.sequences }];
  for (const { workers, sequences } of plan) {
    let summary: Summary;
    if (workers === 1 && sequences === WORKLOAD.sequences && ctx.docfleetDefault) {
      summary = ctx.docfleetDefault;
    } else {
      log(`scaling: ${workers} worker(s) × ${sequences} sequence(s)`);
      const env = fleetEnv(ctx);
      summary = summarize(await fleetRun(env, { workers, sequences, contextSize: WORKLOAD.contextSize, maxTokens: WORKLOAD.maxTokens, docsDir: ctx.docsDir }));
      await ctx.flush();
    }
    runs.push({ workers, sequences, summary });
  }

  log(`memory: one worker, ${MEMORY.first} then ${MEMORY.all} jobs (max ${MEMORY.maxTokens} tokens each)`);
  const firstDir = path.join(ctx.tmp, 'memory-first');
  const restDir = path.join(ctx.tmp, 'memory-rest');
  await writeDocuments(firstDir, MEMORY.first, 200_000, 2);
  await writeDocuments(restDir, MEMORY.all - MEMORY.first, 200_000 + MEMORY.first, 2);
  const memory: MemoryRun = await memoryRun(fleetEnv(ctx), WORKLOAD.contextSize, MEMORY.maxTokens, firstDir, restDir);
  await ctx.flush();

  const mib = (b: number) => round(b / 2 ** 20);
  const withinTenPercent = Math.abs(memory.growth) <= 0.1;
  const out = [
    `### Scaling (same ${ctx.files.length} documents; tokens/s and docs/s of the whole fleet)`,
    '',
    markdownTable(
      ['workers × sequences', 'tokens/s', 'docs/s', 'job p50 ms', 'job p95 ms', 'e2e p95 ms', 'threads/worker'],
      runs.map((r) => [`${r.workers} × ${r.sequences}`, r.summary.tokensPerSecond, r.summary.documentsPerSecond, r.summary.jobLatencyMs.p50, r.summary.jobLatencyMs.p95, r.summary.endToEndMs.p95, String(r.summary.settings.threads ?? '—')]),
    ),
    '',
    `### Memory (one worker, defaults, ${MEMORY.maxTokens}-token summaries of short documents)`,
    '',
    markdownTable(
      ['when', 'RSS MiB'],
      [
        ['worker ready', mib(memory.rssReadyBytes)],
        [`after ${memory.firstJobs} jobs`, mib(memory.rssAfterFirstBytes)],
        [`after ${memory.allJobs} jobs`, mib(memory.rssAfterAllBytes)],
      ],
    ),
    '',
    `RSS after ${memory.allJobs} vs after ${memory.firstJobs} jobs: ${memory.growth >= 0 ? '+' : ''}${round(memory.growth * 100)}% — within 10%: ${withinTenPercent ? 'YES' : 'NO'} (${round(memory.jobsPerSecond)} jobs/s meanwhile)`,
  ].join('\n');
  const scalingJson = {
    runs: runs.map((r) => ({ workers: r.workers, sequences: r.sequences, ...r.summary })),
    memory: { ...memory, growthPercent: round(memory.growth * 100), withinTenPercent },
  };
  return { json: scalingJson, text: out };
}

function fleetEnv(ctx: Context): FleetEnv {
  return { redisUrl: ctx.redisUrl, prefix: ctx.prefix(), modelPath: ctx.modelPath, cacheHome: ctx.cacheHome };
}

async function writeJson(name: string, data: unknown): Promise<string> {
  const file = path.join(RESULTS_DIR, name);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(data, null, 2) + '\n');
  await rename(tmp, file);
  return path.relative(process.cwd(), file);
}

async function main(): Promise<void> {
  const mode = process.argv[2] ?? 'all';
  if (!['throughput', 'scaling', 'all'].includes(mode)) {
    process.stderr.write('usage: npm run bench -- [throughput|scaling|all]\n');
    process.exit(2);
  }
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const modelPath = path.resolve(process.env.BENCH_MODEL_PATH || process.env.TEST_MODEL_PATH || DEFAULT_MODEL);
  if (!existsSync(modelPath)) throw new Error(`model ${modelPath} not found (BENCH_MODEL_PATH to use another)`);

  const started = Date.now();
  const redis = await startLocalRedis();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'docfleet-bench-'));
  const stopAll = async () => {
    await redis.stop();
    await rm(tmp, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    let n = 0;
    const ctx: Context = {
      redisUrl: redis.url,
      modelPath,
      tmp,
      cacheHome: path.join(tmp, 'cache'),
      docsDir: path.join(tmp, 'docs'),
      files: [],
      prefix: () => `bench${++n}`,
      flush: async () => {
        const client = new Redis(redis.url);
        await client.flushall();
        client.disconnect();
      },
    };
    ctx.files = await writeDocuments(ctx.docsDir, WORKLOAD.documents);
    const meta = {
      date: new Date().toISOString(),
      node: process.version,
      cpu: os.cpus()[0]?.model.trim(),
      cpus: os.cpus().length,
      cpuBudget: detectCpuBudget(),
      model: path.basename(modelPath),
      workload: WORKLOAD,
      command: `npm run bench -- ${mode}`,
    };
    log(`model ${modelPath}; Redis ${redis.url}; ${meta.cpus} CPUs, budget ${meta.cpuBudget.cpus} (${meta.cpuBudget.source})`);
    const texts: string[] = [];
    if (mode !== 'scaling') {
      const t = await throughput(ctx);
      texts.push(t.text);
      const file = await writeJson('throughput.json', { meta, ...t.json });
      log(`wrote ${file}`);
    }
    if (mode !== 'throughput') {
      const s = await scaling(ctx);
      texts.push(s.text);
      const file = await writeJson('scaling.json', { meta, ...s.json });
      log(`wrote ${file}`);
    }
    process.stdout.write(`\n${texts.join('\n\n')}\n\n(${meta.model}, ${meta.cpus} CPUs, ${meta.node}; whole run ${round((Date.now() - started) / 1000)} s)\n`);
  } finally {
    await stopAll();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
