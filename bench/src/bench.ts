import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { detectCpuBudget } from '../../dist/shared/cpu-budget.js';
import { startLocalRedis } from '../../dist/shared/local-redis.js';
import type { CeilingInput, EmbedInput, EmbedRun, GenerationRun, NaiveInput, QueueInput, QueueRun } from './child.js';
import {
  CLI,
  DEFAULT_MODEL,
  documentText,
  ForeignCpuMeter,
  log,
  markdownTable,
  percentile,
  RESULTS_DIR,
  ratio,
  round,
  runChild,
  WORKLOAD,
  writeDocuments,
  type Disturbance,
} from './common.js';
import { fleetRun, memoryRun, type FleetEnv, type MemoryRun } from './fleet.js';
import { longDocuments } from './long-documents.js';

/**
 * `npm run bench -- throughput|scaling|all`: measures docfleet against node-llama-cpp driven directly
 * (the ceiling), against a naive BullMQ worker, and its queue paths against plain BullMQ; prints
 * tables and writes bench/results/{throughput,scaling}.json. Everything runs on one throwaway Redis.
 */

const NAIVE_CAP_MS = 60_000;
const ROUNDS = 3;
/** The queue runs are short and Redis-bound, hence noisier: more rounds. */
const QUEUE_ROUNDS = 3;
const QUEUE_JOBS = 5_000;
const QUEUE_CONCURRENCIES = [WORKLOAD.sequences, 16];
const SCALING_SEQUENCES = [1, 4, 16];
/** 200 jobs, then 900, then 900 more: RSS after 200, 1,100 and 2,000. */
const MEMORY = { batches: [200, 900, 900], maxTokens: 8 };
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
  /** From submitting the whole set to the first job's start, ms. */
  firstStartMs: number | null;
  /** Share of the run's slot time (wall × slots) spent inside jobs. */
  slotUtilization: number | null;
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
    firstStartMs: run.startMs.length > 0 ? Math.round(Math.min(...run.startMs)) : null,
    slotUtilization: run.completed > 0 ? round(run.latencyMs.reduce((a, b) => a + b, 0) / (run.wallMs * run.slots), 3) : null,
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
  /** Runs one measured phase while watching the CPU other processes take. */
  measure: <T>(phase: string, fn: () => Promise<T>) => Promise<T>;
  disturbances: ({ phase: string } & Disturbance)[];
}

/** Phases in which other processes took more than this many cores on average are flagged. */
const DISTURBED_CORES = 0.1;

function disturbanceReport(list: ({ phase: string } & Disturbance)[]): string {
  const bad = list.filter((d) => d.foreignCores > DISTURBED_CORES || d.stealCores > DISTURBED_CORES);
  const max = (f: (d: Disturbance) => number) => Math.max(0, ...list.map(f));
  if (bad.length === 0) {
    return `Machine quiet: other processes took at most ${max((d) => d.foreignCores)} cores, steal time at most ${max((d) => d.stealCores)} cores, in any measured phase.`;
  }
  return (
    `WARNING: the machine was busy during ${bad.length} measured phase(s); those figures are low: ` +
    bad.map((d) => `${d.phase}: others ${d.foreignCores} cores (${d.top.map((t) => `${t.comm} ${t.cpuSeconds}s`).join(', ')}), steal ${d.stealCores} cores`).join('; ')
  );
}

async function throughput(ctx: Context) {
  const base = { modelPath: ctx.modelPath, files: ctx.files, maxTokens: WORKLOAD.maxTokens };
  const ceilingInput: CeilingInput = {
    ...base,
    contextSize: WORKLOAD.contextSize,
    sequences: WORKLOAD.sequences,
    tuneCacheDir: path.join(ctx.cacheHome, 'docfleet'),
  };
  // Alternated, and each reported by its best round, so that a noisy moment on a shared machine
  // does not decide the ratio. The first ceiling round also runs the thread tuner the workers then reuse.
  const ceilingRounds: Summary[] = [];
  const docfleetRounds: Summary[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    log(`ceiling ${r}/${ROUNDS}: node-llama-cpp directly, ${WORKLOAD.sequences} sequences, ${ctx.files.length} documents`);
    ceilingRounds.push(summarize(await ctx.measure(`ceiling ${r}`, () => runChild<GenerationRun>('ceiling', ceilingInput))));
    log(`docfleet ${r}/${ROUNDS}: one \`docfleet worker\` process at its defaults (context size ${WORKLOAD.contextSize}), documents through the Producer`);
    const opts = { workers: 1, sequences: WORKLOAD.sequences, contextSize: WORKLOAD.contextSize, maxTokens: WORKLOAD.maxTokens, docsDir: ctx.docsDir };
    docfleetRounds.push(summarize(await ctx.measure(`docfleet ${r}`, () => fleetRun(fleetEnv(ctx), opts))));
    await ctx.flush();
  }
  const best = (rounds: Summary[]) => rounds.reduce((a, b) => (b.tokensPerSecond > a.tokensPerSecond ? b : a));
  const ceiling = best(ceilingRounds);
  const docfleet = best(docfleetRounds);
  ctx.docfleetDefault = docfleet;

  log(`naive: BullMQ worker, concurrency 1, library defaults, capped at ${NAIVE_CAP_MS / 1000} s`);
  const naiveInput: NaiveInput = { ...base, redisUrl: ctx.redisUrl, capMs: NAIVE_CAP_MS };
  const naive = summarize(await ctx.measure('naive', () => runChild<GenerationRun>('naive', naiveInput)));
  await ctx.flush();

  const queue = await queueOverhead(ctx);

  // Diagnostic: tokens/s counted from the first job's start, i.e. without the wait before the first fetch.
  const fromFirstStart = (x: Summary) => round(x.tokensOut / (x.wallSeconds - (x.firstStartMs ?? 0) / 1000));
  const ratios = {
    docfleetVsCeilingFromFirstStart: ratio(fromFirstStart(docfleet), fromFirstStart(ceiling)),
    docfleetVsCeiling: { tokensPerSecond: ratio(docfleet.tokensPerSecond, ceiling.tokensPerSecond), documentsPerSecond: ratio(docfleet.documentsPerSecond, ceiling.documentsPerSecond) },
    docfleetVsNaive: { tokensPerSecond: ratio(docfleet.tokensPerSecond, naive.tokensPerSecond), documentsPerSecond: ratio(docfleet.documentsPerSecond, naive.documentsPerSecond) },
  };
  const targets = {
    docfleetVsCeiling: { target: TARGETS.docfleetVsCeiling, measured: ratios.docfleetVsCeiling.tokensPerSecond, met: (ratios.docfleetVsCeiling.tokensPerSecond ?? 0) >= TARGETS.docfleetVsCeiling },
    queueEnqueueVsRaw: queue.targets.enqueue,
    queueEnqueueVsRawSameOptions: queue.targets.enqueueVsSameOptions,
    queueProcessVsRaw: queue.targets.process,
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
    s.firstStartMs,
    s.slotUtilization,
    String(s.settings.threads ?? '—'),
    String(s.settings.sequences ?? '—'),
  ];
  const header = ['run', 'docs done', 'tokens out', 'wall s', 'tokens/s', 'docs/s', 'job p50 ms', 'job p95 ms', 'e2e p50 ms', 'e2e p95 ms', 'first start ms', 'slot use', 'threads', 'sequences'];
  const verdict = (met: boolean) => (met ? 'MET' : 'NOT MET');
  const out = [
    `### Throughput (${ctx.files.length} documents, summarize, max ${WORKLOAD.maxTokens} tokens, context ${WORKLOAD.contextSize} per sequence)`,
    '',
    markdownTable(header, [row('ceiling (node-llama-cpp directly)', ceiling), row('docfleet worker (defaults)', docfleet), row(`naive BullMQ worker (capped ${NAIVE_CAP_MS / 1000} s)`, naive)]),
    '',
    `Best of ${ROUNDS} alternated rounds; tokens/s by round: ceiling ${ceilingRounds.map((r) => r.tokensPerSecond).join(', ')}; docfleet ${docfleetRounds.map((r) => r.tokensPerSecond).join(', ')}.`,
    `docfleet / ceiling: ${ratios.docfleetVsCeiling.tokensPerSecond} (tokens/s), ${ratios.docfleetVsCeiling.documentsPerSecond} (docs/s) — target ≥ ${TARGETS.docfleetVsCeiling}: ${verdict(targets.docfleetVsCeiling.met)}`,
    `diagnostic: counted from each run's first job start (docfleet's first start came ${docfleet.firstStartMs} ms after the submit), docfleet / ceiling = ${ratios.docfleetVsCeilingFromFirstStart}`,
    `docfleet / naive:   ${ratios.docfleetVsNaive.tokensPerSecond} (tokens/s), ${ratios.docfleetVsNaive.documentsPerSecond ?? 'n/a: the naive worker finished no document'} (docs/s)`,
    '',
    queue.text,
  ].join('\n');
  const disturbance = ctx.disturbances.slice();
  return {
    json: { ceiling, docfleet, naive, ratios, queue: queue.json, targets, rounds: { ceiling: ceilingRounds, docfleet: docfleetRounds }, disturbance },
    text: `${out}\n\n${disturbanceReport(disturbance)}`,
  };
}

/**
 * Queue overhead alone (`npm run bench -- queue`, and part of `throughput`): no-op jobs through docfleet's
 * producer and worker paths against plain BullMQ, both with BullMQ's defaults and with the job options
 * docfleet sets, so the table tells what BullMQ's options cost from what docfleet's own layer costs.
 */
async function queueOverhead(ctx: Context) {
  const queueDocs = path.join(ctx.tmp, 'queue-docs');
  await writeDocuments(queueDocs, QUEUE_JOBS, 100_000, 2);
  const runs: Record<'raw' | 'rawOptions' | 'docfleet' | 'docfleetOneQueue', QueueRun[]>[] = [];
  for (const concurrency of QUEUE_CONCURRENCIES) {
    const at = { raw: [] as QueueRun[], rawOptions: [] as QueueRun[], docfleet: [] as QueueRun[], docfleetOneQueue: [] as QueueRun[] };
    for (let r = 1; r <= QUEUE_ROUNDS; r++) {
      log(`queue overhead ${r}/${QUEUE_ROUNDS}: ${QUEUE_JOBS} no-op jobs at concurrency ${concurrency}: plain BullMQ, with docfleet's job options, docfleet`);
      const input: QueueInput = { redisUrl: ctx.redisUrl, jobs: QUEUE_JOBS, concurrency, prefix: '' };
      type Variant = [keyof typeof at, 'queue-raw' | 'queue-docfleet', Partial<QueueInput>];
      const variants: Variant[] = [
        ['raw', 'queue-raw', {}],
        ['rawOptions', 'queue-raw', { jobOptions: true }],
        ['docfleet', 'queue-docfleet', { docsDir: queueDocs }],
      ];
      // Diagnostic: the same scheduler serving one queue instead of two.
      if (concurrency === WORKLOAD.sequences) variants.push(['docfleetOneQueue', 'queue-docfleet', { docsDir: queueDocs, singleQueue: true }]);
      for (const [key, scenario, extra] of variants) {
        at[key].push(await ctx.measure(`queue ${key} c${concurrency} ${r}`, () => runChild<QueueRun>(scenario, { ...input, ...extra, prefix: ctx.prefix() })));
        await ctx.flush();
      }
    }
    runs.push(at);
  }

  // Redis-bound and short, so noisy: each figure is the fastest of its rounds. Enqueueing does not depend on
  // the worker's concurrency, so its figures take the rounds of every concurrency.
  const rate = (ms: number) => round((QUEUE_JOBS * 1000) / ms);
  const fastest = (list: QueueRun[], phase: (r: QueueRun) => number | undefined) => rate(Math.min(...list.map((r) => phase(r) ?? Infinity)));
  const all = (key: keyof (typeof runs)[number]) => runs.flatMap((at) => at[key]);
  const enqueue = {
    raw: fastest(all('raw'), (r) => r.enqueueMs),
    rawOptions: fastest(all('rawOptions'), (r) => r.enqueueMs),
    /** Producer.submitDocuments of already hashed references: the queue path without reading files. */
    docfleetRefs: fastest(all('docfleet'), (r) => r.enqueueRefsMs),
    /** Producer.submit of the files: walking, reading and hashing them included. */
    docfleetFiles: fastest(all('docfleet'), (r) => r.enqueueMs),
    /** Walking and hashing the files alone: a bound on submit's rate. */
    walk: fastest(all('docfleet'), (r) => r.walkMs),
  };
  const enqueueRatio = {
    refs: ratio(enqueue.docfleetRefs, enqueue.raw),
    refsVsSameOptions: ratio(enqueue.docfleetRefs, enqueue.rawOptions),
    files: ratio(enqueue.docfleetFiles, enqueue.raw),
    rawOptions: ratio(enqueue.rawOptions, enqueue.raw),
  };
  const processRows = runs.map((at, i) => {
    const jobsPerSecond = {
      raw: fastest(at.raw, (r) => r.processMs),
      rawOptions: fastest(at.rawOptions, (r) => r.processMs),
      docfleet: fastest(at.docfleet, (r) => r.processMs),
      docfleetOneQueue: at.docfleetOneQueue.length > 0 ? fastest(at.docfleetOneQueue, (r) => r.processMs) : null,
    };
    const commands = (list: QueueRun[]) => list[0]?.redisCommandsPerJob ?? null;
    return {
      concurrency: QUEUE_CONCURRENCIES[i]!,
      jobsPerSecond,
      redisCommandsPerJob: { raw: commands(at.raw), rawOptions: commands(at.rawOptions), docfleet: commands(at.docfleet), docfleetOneQueue: commands(at.docfleetOneQueue) },
      ratio: {
        docfleet: ratio(jobsPerSecond.docfleet, jobsPerSecond.raw),
        docfleetVsSameOptions: ratio(jobsPerSecond.docfleet, jobsPerSecond.rawOptions),
        docfleetOneQueue: ratio(jobsPerSecond.docfleetOneQueue, jobsPerSecond.raw),
      },
    };
  });

  const q0 = processRows.find((q) => q.concurrency === WORKLOAD.sequences)!;
  const targets = {
    enqueue: { target: TARGETS.queueVsRaw, measured: enqueueRatio.refs, met: (enqueueRatio.refs ?? 0) >= TARGETS.queueVsRaw },
    enqueueVsSameOptions: { target: TARGETS.queueVsRaw, measured: enqueueRatio.refsVsSameOptions, met: (enqueueRatio.refsVsSameOptions ?? 0) >= TARGETS.queueVsRaw },
    process: { target: TARGETS.queueVsRaw, measured: q0.ratio.docfleet, met: (q0.ratio.docfleet ?? 0) >= TARGETS.queueVsRaw },
  };
  const verdict = (met: boolean) => (met ? 'MET' : 'NOT MET');
  const text = [
    `### Queue overhead: enqueueing ${QUEUE_JOBS} no-op jobs`,
    '',
    markdownTable(
      ['path', 'jobs/s', 'vs raw addBulk'],
      [
        ['raw Queue.addBulk, BullMQ defaults', enqueue.raw, 1],
        ["raw Queue.addBulk, docfleet's job options (content ids, retries, retention)", enqueue.rawOptions, enqueueRatio.rawOptions],
        ['docfleet Producer.submitDocuments (hashed references)', enqueue.docfleetRefs, enqueueRatio.refs],
        ['docfleet Producer.submit (walks, reads and hashes the files)', enqueue.docfleetFiles, enqueueRatio.files],
      ],
    ),
    '',
    `submitDocuments / raw addBulk with the same job options: ${enqueueRatio.refsVsSameOptions}. Walking and hashing the ${QUEUE_JOBS} files alone runs at ${enqueue.walk} documents/s, a bound on submit that addBulk does not have.`,
    '',
    `### Queue overhead: processing ${QUEUE_JOBS} no-op jobs (jobs/s)`,
    '',
    markdownTable(
      ['concurrency', 'raw Worker', 'raw Worker, same job options', 'docfleet SlotScheduler', 'vs raw', 'vs same options', 'Redis cmds/job raw : same options : docfleet'],
      processRows.map((q) => [
        q.concurrency,
        q.jobsPerSecond.raw,
        q.jobsPerSecond.rawOptions,
        q.jobsPerSecond.docfleet,
        q.ratio.docfleet,
        q.ratio.docfleetVsSameOptions,
        `${q.redisCommandsPerJob.raw} : ${q.redisCommandsPerJob.rawOptions} : ${q.redisCommandsPerJob.docfleet}`,
      ]),
    ),
    '',
    `Fastest of ${QUEUE_ROUNDS} alternated rounds per figure (enqueueing: of all ${QUEUE_ROUNDS * QUEUE_CONCURRENCIES.length}). Redis commands include those run inside BullMQ's Lua scripts.`,
    `Diagnostic, concurrency ${WORKLOAD.sequences}: the SlotScheduler serving one queue instead of its two (tag + any): ${q0.jobsPerSecond.docfleetOneQueue} jobs/s (ratio ${q0.ratio.docfleetOneQueue}), ${q0.redisCommandsPerJob.docfleetOneQueue} Redis commands/job.`,
    `queue overhead, target ≥ ${TARGETS.queueVsRaw} × raw BullMQ: enqueue ${targets.enqueue.measured} ${verdict(targets.enqueue.met)} (vs the same job options ${targets.enqueueVsSameOptions.measured} ${verdict(targets.enqueueVsSameOptions.met)}), process at concurrency ${WORKLOAD.sequences} ${targets.process.measured} ${verdict(targets.process.met)}`,
  ].join('\n');
  return { json: { enqueue: { jobsPerSecond: enqueue, ratio: enqueueRatio }, process: processRows }, targets, text };
}

/** Embedding documents, `npm run bench -- embed`: paragraphs of the test model's language, embedded at the task's defaults. */
const EMBED = { documents: 12, paragraphs: 60, rounds: 2, contextSize: 2048 };

/**
 * Embedding throughput (`npm run bench -- embed`): docfleet's embed task on one EmbeddingPool context (what a
 * worker had before the pool: one LlamaEmbeddingContext, inputs one at a time) against the pool a worker
 * creates (one context per core of the CPU budget at the tuned thread count), WORKLOAD.sequences jobs at once.
 */
async function embedding(ctx: Context) {
  const dir = path.join(ctx.tmp, 'embed-docs');
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  let chars = 0;
  for (let d = 0; d < EMBED.documents; d++) {
    const file = path.join(dir, `long-${d}.txt`);
    const text = Array.from({ length: EMBED.paragraphs }, (_, k) => documentText(300_000 + d * EMBED.paragraphs + k, 6)).join('\n');
    await writeFile(file, text);
    chars += text.length;
    files.push(file);
  }
  const base = { modelPath: ctx.modelPath, files, jobsAtOnce: WORKLOAD.sequences, contextSize: EMBED.contextSize, tuneCacheDir: path.join(ctx.cacheHome, 'docfleet') };
  const runs: { one: EmbedRun[]; pool: EmbedRun[] } = { one: [], pool: [] };
  for (let r = 1; r <= EMBED.rounds; r++) {
    log(`embed ${r}/${EMBED.rounds}: ${files.length} documents, ${WORKLOAD.sequences} jobs at once, one context then the worker's pool`);
    runs.one.push(await ctx.measure(`embed 1 context ${r}`, () => runChild<EmbedRun>('embed', { ...base, contexts: 1 } satisfies EmbedInput)));
    runs.pool.push(await ctx.measure(`embed pool ${r}`, () => runChild<EmbedRun>('embed', { ...base, contexts: 'auto' } satisfies EmbedInput)));
  }
  const best = (list: EmbedRun[]) => list.reduce((a, b) => (b.tokensPerSecond > a.tokensPerSecond ? b : a));
  const one = best(runs.one);
  const pool = best(runs.pool);
  const text = [
    `### Embedding (${files.length} documents of ~${round(chars / files.length / 1000)}k characters, embed defaults, ${WORKLOAD.sequences} jobs at once)`,
    '',
    markdownTable(
      ['embedding contexts', 'threads each', 'chunks', 'tokens', 'wall s', 'tokens/s'],
      [one, pool].map((e) => [e.contexts, e.threads, e.chunks, e.tokens, round(e.wallMs / 1000, 2), e.tokensPerSecond]),
    ),
    '',
    `Best of ${EMBED.rounds} alternated rounds; tokens/s by round: one context ${runs.one.map((e) => e.tokensPerSecond).join(', ')}; pool ${runs.pool.map((e) => e.tokensPerSecond).join(', ')}. Pool / one context: ${ratio(pool.tokensPerSecond, one.tokensPerSecond)}.`,
  ].join('\n');
  return { json: { one, pool, ratio: ratio(pool.tokensPerSecond, one.tokensPerSecond), rounds: runs }, text };
}

async function scaling(ctx: Context) {
  const firstPhase = ctx.disturbances.length;
  const runs: { workers: number; sequences: number; summary: Summary }[] = [];
  const plan = [...SCALING_SEQUENCES.map((sequences) => ({ workers: 1, sequences })), { workers: 2, sequences: WORKLOAD.sequences }];
  for (const { workers, sequences } of plan) {
    let summary: Summary;
    if (workers === 1 && sequences === WORKLOAD.sequences && ctx.docfleetDefault) {
      summary = ctx.docfleetDefault;
    } else {
      log(`scaling: ${workers} worker(s) × ${sequences} sequence(s)`);
      const env = fleetEnv(ctx);
      const opts = { workers, sequences, contextSize: WORKLOAD.contextSize, maxTokens: WORKLOAD.maxTokens, docsDir: ctx.docsDir };
      summary = summarize(await ctx.measure(`scaling ${workers}x${sequences}`, () => fleetRun(env, opts)));
      await ctx.flush();
    }
    runs.push({ workers, sequences, summary });
  }

  log(`memory: one worker, ${MEMORY.batches.join(' + ')} jobs (max ${MEMORY.maxTokens} tokens each)`);
  const dirs: string[] = [];
  let from = 200_000;
  for (const [i, n] of MEMORY.batches.entries()) {
    const dir = path.join(ctx.tmp, `memory-${i}`);
    await writeDocuments(dir, n, from, 2);
    from += n;
    dirs.push(dir);
  }
  const memory: MemoryRun = await ctx.measure('memory', () => memoryRun(fleetEnv(ctx), WORKLOAD.contextSize, MEMORY.maxTokens, dirs));
  await ctx.flush();

  const mib = (b: number | null) => (b === null ? null : round(b / 2 ** 20));
  const pct = (g: number) => `${g >= 0 ? '+' : ''}${round(g * 100)}%`;
  const withinTenPercent = Math.abs(memory.growth) <= 0.1;
  const [first, ...rest] = memory.points.slice(1);
  const lastPoint = memory.points[memory.points.length - 1]!;
  const out = [
    `### Scaling (same ${ctx.files.length} documents; tokens/s and docs/s of the whole fleet)`,
    '',
    markdownTable(
      ['workers × sequences', 'tokens/s', 'docs/s', 'job p50 ms', 'job p95 ms', 'e2e p95 ms', 'first start ms', 'slot use', 'threads/worker'],
      runs.map((r) => [
        `${r.workers} × ${r.sequences}`,
        r.summary.tokensPerSecond,
        r.summary.documentsPerSecond,
        r.summary.jobLatencyMs.p50,
        r.summary.jobLatencyMs.p95,
        r.summary.endToEndMs.p95,
        r.summary.firstStartMs,
        r.summary.slotUtilization,
        String(r.summary.settings.threads ?? '—'),
      ]),
    ),
    '',
    `### Memory (one worker, defaults, ${MEMORY.maxTokens}-token summaries of short documents)`,
    '',
    markdownTable(
      ['jobs done', 'RSS MiB', 'V8 heap used MiB', 'RSS after GC MiB', 'live heap after GC MiB'],
      memory.points.map((p) => [p.jobs === 0 ? '0 (ready)' : p.jobs, mib(p.rssBytes), mib(p.heapUsedBytes), mib(p.rssAfterGcBytes), mib(p.liveHeapBytes)]),
    ),
    '',
    `RSS as it is, after ${lastPoint.jobs} vs after ${first!.jobs} jobs: ${memory.growth >= 0 ? '+' : ''}${round(memory.growth * 100)}% — within 10%: ${withinTenPercent ? 'YES' : 'NO'}` +
      (rest.length > 1 ? ` (in between: ${rest.slice(0, -1).map((p) => `${mib(p.rssBytes)} MiB after ${p.jobs}`).join(', ')})` : ''),
    memory.liveHeapGrowth === null || memory.rssAfterGcGrowth === null
      ? 'After GC: not measured (no inspector or no WebSocket client; run it through `npm run bench`).'
      : `After forced GC, ${lastPoint.jobs} vs ${first!.jobs} jobs: RSS ${pct(memory.rssAfterGcGrowth)} — within 10%: ${Math.abs(memory.rssAfterGcGrowth) <= 0.1 ? 'YES' : 'NO'}; live JS heap ${pct(memory.liveHeapGrowth)}.`,
    `(the last ${memory.lastBatch.jobs} jobs: ${memory.lastBatch.jobsPerSecond} jobs/s, job p50 ${memory.lastBatch.jobLatencyP50Ms} ms, first start after ${memory.lastBatch.firstStartMs} ms, slot use ${memory.lastBatch.slotUtilization})`,
  ].join('\n');
  const scalingJson = {
    runs: runs.map((r) => ({ workers: r.workers, sequences: r.sequences, ...r.summary })),
    memory: {
      ...memory,
      growthPercent: round(memory.growth * 100),
      liveHeapGrowthPercent: memory.liveHeapGrowth === null ? null : round(memory.liveHeapGrowth * 100),
      rssAfterGcGrowthPercent: memory.rssAfterGcGrowth === null ? null : round(memory.rssAfterGcGrowth * 100),
      withinTenPercent,
    },
    disturbance: ctx.disturbances.slice(firstPhase),
  };
  return { json: scalingJson, text: `${out}\n\n${disturbanceReport(scalingJson.disturbance)}` };
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
  if (!['throughput', 'scaling', 'long', 'queue', 'embed', 'all'].includes(mode)) {
    process.stderr.write('usage: npm run bench -- [throughput|scaling|long|queue|embed|all]\n');
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
      disturbances: [],
      measure: async (phase, fn) => {
        const meter = new ForeignCpuMeter();
        await meter.start();
        try {
          return await fn();
        } finally {
          const d = await meter.stop();
          ctx.disturbances.push({ phase, ...d });
          if (d.foreignCores > DISTURBED_CORES || d.stealCores > DISTURBED_CORES) {
            log(`  ${phase}: other processes took ${d.foreignCores} cores (${d.top.map((t) => t.comm).join(', ')}), steal ${d.stealCores} cores`);
          }
        }
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
      command: process.argv[2] ? `npm run bench -- ${mode}` : 'npm run bench',
    };
    log(`model ${modelPath}; Redis ${redis.url}; ${meta.cpus} CPUs, budget ${meta.cpuBudget.cpus} (${meta.cpuBudget.source})`);
    const texts: string[] = [];
    if (mode === 'throughput' || mode === 'all') {
      const t = await throughput(ctx);
      texts.push(t.text);
      const file = await writeJson('throughput.json', { meta, ...t.json });
      log(`wrote ${file}`);
    }
    if (mode === 'embed' || mode === 'all') {
      const e = await embedding(ctx);
      texts.push(e.text);
      const file = await writeJson('embedding.json', { meta, ...e.json });
      log(`wrote ${file}`);
    }
    if (mode === 'queue') {
      // Only the queue-overhead part of `throughput`; prints, writes no file.
      const q = await queueOverhead(ctx);
      texts.push(`${q.text}\n\n${disturbanceReport(ctx.disturbances)}`);
    }
    if (mode === 'scaling' || mode === 'all') {
      const s = await scaling(ctx);
      texts.push(s.text);
      const file = await writeJson('scaling.json', { meta, ...s.json });
      log(`wrote ${file}`);
    }
    if (mode === 'long' || mode === 'all') {
      const l = await longDocuments({ redisUrl: ctx.redisUrl, modelPath, cacheHome: ctx.cacheHome, prefix: ctx.prefix });
      texts.push(l.text);
      const file = await writeJson('long-documents.json', { meta, ...l.json });
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
