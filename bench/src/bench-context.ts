import type { Disturbance } from './common.js';
import { percentile, round } from './common.js';
import type { FleetEnv } from './fleet.js';
import type { GenerationRun } from './scenarios/generation-run.js';

/** What every part of the benchmark shares: the run's Redis, model, documents and measuring. */

export const TARGETS = { docfleetVsCeiling: 0.9, queueVsRaw: 0.8 };

export interface Summary {
  docs: number;
  completed: number;
  tokensIn: number;
  tokensOut: number;
  wallSeconds: number;
  tokensPerSecond: number;
  /** Prompt tokens evaluated per second of the run's wall time. */
  promptTokensPerSecond: number;
  documentsPerSecond: number;
  /** From a document's start to its first generated token, ms (where the run measures it). */
  firstTokenMs: { p50: number | null; p95: number | null };
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

export function summarize(run: GenerationRun): Summary {
  const s = run.wallMs / 1000;
  const pct = (v: number[]) => ({ p50: nullableRound(percentile(v, 50)), p95: nullableRound(percentile(v, 95)) });
  return {
    docs: run.docs,
    completed: run.completed,
    tokensIn: run.tokensIn,
    tokensOut: run.tokensOut,
    wallSeconds: round(s, 2),
    tokensPerSecond: round(run.tokensOut / s),
    promptTokensPerSecond: round(run.tokensIn / s),
    documentsPerSecond: round(run.completed / s, 3),
    firstTokenMs: pct(run.firstTokenMs ?? []),
    jobLatencyMs: pct(run.latencyMs),
    endToEndMs: pct(run.e2eMs),
    firstStartMs: run.startMs.length > 0 ? Math.round(Math.min(...run.startMs)) : null,
    slotUtilization:
      run.completed > 0 ? round(run.latencyMs.reduce((a, b) => a + b, 0) / (run.wallMs * run.slots), 3) : null,
    settings: run.settings,
  };
}

function nullableRound(n: number | null): number | null {
  return n === null ? null : Math.round(n);
}

export interface Context {
  redisUrl: string;
  modelPath: string;
  tmp: string;
  cacheHome: string;
  docsDir: string;
  /** Documents each docfleet run summarizes untimed before its timed batch. */
  warmupDir: string;
  files: string[];
  prefix: () => string;
  flush: () => Promise<void>;
  /** Runs one measured phase while watching the CPU other processes take. */
  measure: <T>(phase: string, fn: () => Promise<T>) => Promise<T>;
  disturbances: ({ phase: string } & Disturbance)[];
}

/** Phases in which other processes took more than this many cores on average are flagged. */
export const DISTURBED_CORES = 0.1;

export function disturbanceReport(list: ({ phase: string } & Disturbance)[]): string {
  const bad = list.filter((d) => d.foreignCores > DISTURBED_CORES || d.stealCores > DISTURBED_CORES);
  const max = (f: (d: Disturbance) => number) => Math.max(0, ...list.map(f));
  if (bad.length === 0) {
    return `Machine quiet: other processes took at most ${max((d) => d.foreignCores)} cores, steal time at most ${max((d) => d.stealCores)} cores, in any measured phase.`;
  }
  return (
    `WARNING: the machine was busy during ${bad.length} measured phase(s); those figures are low: ` +
    bad
      .map(
        (d) =>
          `${d.phase}: others ${d.foreignCores} cores (${d.top.map((t) => `${t.comm} ${t.cpuSeconds}s`).join(', ')}), steal ${d.stealCores} cores`,
      )
      .join('; ')
  );
}

export function fleetEnv(ctx: Context): FleetEnv {
  return { redisUrl: ctx.redisUrl, prefix: ctx.prefix(), modelPath: ctx.modelPath, cacheHome: ctx.cacheHome };
}
