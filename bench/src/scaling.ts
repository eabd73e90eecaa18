import os from 'node:os';
import path from 'node:path';
import { disturbanceReport, fleetEnv, summarize, type Context, type Summary } from './bench-context.js';
import { log, markdownTable, round, settingText, WORKLOAD, writeDocuments } from './common.js';
import { fleetRun, memoryRun, type MemoryRun } from './fleet.js';

const SCALING_SEQUENCES = [1, 4, 16];
/** 200 jobs, then 900, then 900 more: RSS after 200, 1,100 and 2,000. */
const MEMORY = { batches: [200, 900, 900], maxTokens: 8 };

/**
 * The docfleet run of `throughput` again with 1, 4 and 16 sequences and with two workers; then one worker's
 * memory over 2,000 jobs (RSS as it is, and after forced garbage collections).
 */
export async function scaling(ctx: Context) {
  const firstPhase = ctx.disturbances.length;
  type Plan = { workers: number; sequences: number; pinned: boolean; flags: string[] };
  const runs: (Plan & { summary: Summary })[] = [];
  // Two workers on one machine, each pinned to a CPU of its own: two pods of 1 CPU against one pod of 2.
  const pinned = os.availableParallelism() >= 2;
  const plan: Plan[] = [
    ...SCALING_SEQUENCES.map((sequences) => ({ workers: 1, sequences, pinned: false, flags: [] })),
    // What the worker's several contexts bring: the default run again with all its sequences in one context.
    { workers: 1, sequences: WORKLOAD.sequences, pinned: false, flags: ['--contexts', '1'] },
    { workers: 2, sequences: WORKLOAD.sequences, pinned, flags: [] },
  ];
  // One run each, the default layout included, so the rows compare like with like (the throughput table's
  // docfleet figure is the best of several rounds).
  for (const p of plan) {
    log(
      `scaling: ${p.workers} worker(s) × ${p.sequences} sequence(s)${p.pinned ? ', one CPU each' : ''} ${p.flags.join(' ')}`,
    );
    const opts = {
      ...p,
      contextSize: WORKLOAD.contextSize,
      maxTokens: WORKLOAD.maxTokens,
      docsDir: ctx.docsDir,
      warmupDir: ctx.warmupDir,
    };
    const summary = summarize(
      await ctx.measure(`scaling ${p.workers}x${p.sequences} ${p.flags.join(' ')}`, () =>
        fleetRun(fleetEnv(ctx), opts),
      ),
    );
    await ctx.flush();
    runs.push({ ...p, summary });
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
  const memory: MemoryRun = await ctx.measure('memory', () =>
    memoryRun(fleetEnv(ctx), WORKLOAD.contextSize, MEMORY.maxTokens, dirs),
  );
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
      [
        'workers × sequences',
        'CPUs per worker',
        'contexts × threads per worker',
        'tokens/s',
        'docs/s',
        'job p50 ms',
        'job p95 ms',
        'e2e p95 ms',
        'first start ms',
        'slot use',
      ],
      runs.map((r) => [
        `${r.workers} × ${r.sequences}${r.flags.length ? ` (${r.flags.join(' ')})` : ''}`,
        settingText(r.summary.settings.cpuBudget),
        `${settingText(r.summary.settings.contexts)} × ${settingText(r.summary.settings.threads)}`,
        r.summary.tokensPerSecond,
        r.summary.documentsPerSecond,
        r.summary.jobLatencyMs.p50,
        r.summary.jobLatencyMs.p95,
        r.summary.endToEndMs.p95,
        r.summary.firstStartMs,
        r.summary.slotUtilization,
      ]),
    ),
    '',
    `### Memory (one worker, defaults, ${MEMORY.maxTokens}-token summaries of short documents)`,
    '',
    markdownTable(
      ['jobs done', 'RSS MiB', 'V8 heap used MiB', 'RSS after GC MiB', 'live heap after GC MiB'],
      memory.points.map((p) => [
        p.jobs === 0 ? '0 (ready)' : p.jobs,
        mib(p.rssBytes),
        mib(p.heapUsedBytes),
        mib(p.rssAfterGcBytes),
        mib(p.liveHeapBytes),
      ]),
    ),
    '',
    "Each reading is taken a second after the batch, as it is, and then after garbage collections forced through the inspector; none is forced before the first batch, so the readings after it are the worker's own and not those of a heap the benchmark had just shrunk.",
    `RSS as it is, after ${lastPoint.jobs} vs after ${first!.jobs} jobs: ${memory.growth >= 0 ? '+' : ''}${round(memory.growth * 100)}% — within 10%: ${withinTenPercent ? 'YES' : 'NO'}` +
      (rest.length > 1
        ? ` (in between: ${rest
            .slice(0, -1)
            .map((p) => `${mib(p.rssBytes)} MiB after ${p.jobs}`)
            .join(', ')})`
        : ''),
    memory.liveHeapGrowth === null || memory.rssAfterGcGrowth === null
      ? 'After GC: not measured (no inspector or no WebSocket client; run it through `npm run bench`).'
      : `After forced GC, ${lastPoint.jobs} vs ${first!.jobs} jobs: RSS ${pct(memory.rssAfterGcGrowth)} — within 10%: ${Math.abs(memory.rssAfterGcGrowth) <= 0.1 ? 'YES' : 'NO'}; live JS heap ${pct(memory.liveHeapGrowth)}.`,
    `(the last ${memory.lastBatch.jobs} jobs: ${memory.lastBatch.jobsPerSecond} jobs/s, job p50 ${memory.lastBatch.jobLatencyP50Ms} ms, first start after ${memory.lastBatch.firstStartMs} ms, slot use ${memory.lastBatch.slotUtilization})`,
  ].join('\n');
  const scalingJson = {
    runs: runs.map((r) => ({
      workers: r.workers,
      sequences: r.sequences,
      pinned: r.pinned,
      flags: r.flags,
      ...r.summary,
    })),
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
