import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InsufficientMemoryError, type LlamaModel } from 'node-llama-cpp';
import type { CpuBudget } from '../../shared/cpu-budget.js';
import type { ModelRole } from '../../shared/queue-layout.js';

/**
 * Picks the inference thread count by measuring, because no formula gets it right: on a 2-core box the
 * library default (4 threads) makes a tiny model crawl and 1 thread is fastest, while a 4B model on a
 * 16-core server wants many threads. What is measured is the layout the worker will run: at each candidate
 * thread count, as many contexts as the worker would create at that count (`contextsAt`), evaluating the
 * same fixed workload side by side. One context at 2 threads may well beat one at 1 thread and still lose
 * to two contexts at 1 thread each, which is how the worker would use the same cores. Each layout runs a
 * few times and is scored by its mean time per workload: more threads are fast on a quiet machine but
 * stall badly whenever a neighbour takes a core, and the mean keeps those stalls (the median would hide
 * them). More threads must also win clearly, since they risk more.
 * For generating models flash attention is measured too: on CPU it can cost far more than it saves
 * (4x slower prompt processing for the tiny test model). Choices are cached so restarts are instant.
 */

export interface ThreadTrial {
  threads: number;
  /** Contexts evaluating side by side at these threads, one workload each. */
  contexts: number;
  /** Tokens evaluated per run, all contexts together: prompt plus generated (or embedded). */
  tokens: number;
  /**
   * Mean wall time of the runs divided by the contexts: what one workload costs in this layout (a run cut
   * off counts as extrapolated to the whole workload).
   */
  ms: number;
  /** Generated tokens per second of all contexts together in the median run (embedded tokens for embedding models). */
  tokensPerSecond: number;
  runs: number;
  /** Some run was stopped early because it could no longer beat the fastest (or took too long at all). */
  cutOff: boolean;
}

export interface FlashAttentionTrial {
  enabled: boolean;
  /** Mean wall time of a long-prompt workload at the chosen thread count. */
  ms: number;
}

/** What was decided and on what evidence; this is what the cache keeps. */
export interface ThreadDecision {
  threads: number;
  /** Measured choice for generation contexts; undefined leaves the library default. */
  flashAttention?: boolean;
  /** What was measured (now, or when the cached choice was made); no thread trials for a --threads flag. */
  trials: ThreadTrial[];
  flashAttentionTrials: FlashAttentionTrial[];
  /** When the measuring was done (ISO 8601). */
  measuredAt?: string;
}

export interface ThreadChoice extends ThreadDecision {
  /** `flag`: threads from --threads (flash attention still measured or cached at them). */
  source: 'flag' | 'cache' | 'measured';
  /** The CPU budget the candidates were drawn from. */
  budget: CpuBudget;
  /** Time spent deciding, including any measuring. */
  tuneMs: number;
  /** Why a fresh measurement could not be saved (the next start measures again). */
  cacheError?: string;
}

export interface TuneOptions {
  model: LlamaModel;
  modelPath: string;
  role: ModelRole;
  threads: 'auto' | number;
  budget: CpuBudget;
  /** Directory of threads.json; defaults to $XDG_CACHE_HOME/docfleet or ~/.cache/docfleet. */
  cacheDir?: string;
  /**
   * How many contexts the worker runs side by side at a thread count; each candidate is measured in that layout.
   * @defaultValue one context at every count
   */
  contextsAt?: (threads: number) => number;
}

/** One way to hold a worker's sequences: `contexts` contexts of `threads` threads each. */
export interface Layout {
  threads: number;
  contexts: number;
}

interface Workload {
  promptTokens: number;
  generate: number;
  contextSize: number;
  flashAttention?: boolean;
}

interface Run {
  /** Contexts that ran side by side. */
  contexts: number;
  /** Wall time divided by the contexts. */
  ms: number;
  tokens: number;
  tokensPerSecond: number;
  cutOff: boolean;
}

const MAX_CANDIDATES = 4;
const THREAD_WORKLOAD: Workload = { promptTokens: 96, generate: 32, contextSize: 256 };
/** Attention cost grows with the context, so flash attention is judged on a longer prompt. */
const FLASH_WORKLOAD: Workload = { promptTokens: 256, generate: 4, contextSize: 512 };
const EMBED_REPEATS = 3;
const ROUNDS = 3;
/** Further rounds only while measuring stays cheap: a big model gets one round. */
const MORE_ROUNDS_WITHIN_MS = 1_000;
/**
 * More threads must cut the time by a third to be chosen: a short trial on a quiet moment flatters
 * them, while long documents under contention punish them hardest (2 threads on this 2-core box
 * have been measured 40x slower than 1 once the context is 2,000 tokens deep).
 */
const CLEAR_WIN = 2 / 3;
/** No single run may take longer than this; later runs get twice the fastest run so far. */
const FIRST_RUN_CAP_MS = 5_000;
/** Part of every cache key, so entries written in an older shape (or measured another way) are measured again. */
const CACHE_FORMAT = 'v2';
const PROMPT =
  'Once upon a time, in a small town by the sea, there lived a girl named Lily who loved to read. ' +
  'Every morning she walked to the old library, where the kind librarian kept a new story for her. ';

export async function chooseThreads(opts: TuneOptions): Promise<ThreadChoice> {
  const started = performance.now();
  const file = path.join(opts.cacheDir ?? defaultCacheDir(), 'threads.json');
  // A --threads flag fixes the threads, not flash attention: that is still measured (and cached) at them.
  const fixed = opts.threads === 'auto' ? undefined : opts.threads;
  const layouts = threadCandidates(opts.budget.cpus).map((threads) => ({
    threads,
    contexts: Math.max(1, Math.floor(opts.contextsAt?.(threads) ?? 1)),
  }));
  const key =
    (await cacheKey(opts)) +
    (fixed === undefined
      ? `|layouts=${layouts.map((l) => `${l.contexts}x${l.threads}`).join(',')}`
      : `|threads=${fixed}`);
  const done = (source: ThreadChoice['source'], decision: ThreadDecision, cacheError?: string): ThreadChoice => ({
    ...decision,
    source: fixed === undefined ? source : 'flag',
    budget: opts.budget,
    tuneMs: Math.round(performance.now() - started),
    ...(cacheError ? { cacheError } : {}),
  });
  const hit = (await readCache(file))[key];
  if (hit) return done('cache', hit);

  const trials = fixed === undefined ? await measureLayouts(opts.model, opts.role, layouts) : [];
  const threads = fixed ?? trials.reduce((best, t) => (t.ms < best.ms * CLEAR_WIN ? t : best)).threads;
  const flashAttentionTrials =
    opts.role === 'generate' && opts.model.flashAttentionSupported
      ? await measureFlashAttention(opts.model, threads)
      : [];
  const fastestFlash = flashAttentionTrials.reduce<FlashAttentionTrial | undefined>(
    (a, b) => (!a || b.ms < a.ms ? b : a),
    undefined,
  );
  const decision = {
    threads,
    flashAttention: fastestFlash?.enabled,
    trials,
    flashAttentionTrials,
    measuredAt: new Date().toISOString(),
  };
  try {
    // A fresh read narrows the window in which two workers starting together overwrite each other.
    await writeCache(file, { ...(await readCache(file)), [key]: decision });
    return done('measured', decision);
  } catch (err) {
    // A read-only home must not stop the worker; it only costs the measuring on every start.
    return done('measured', decision, `${file}: ${(err as Error).message}`);
  }
}

/** 1, 2, 4, … up to the budget and the budget itself; the largest few, since 1 thread rarely wins on big machines. */
export function threadCandidates(budgetCpus: number): number[] {
  const max = Math.max(1, Math.floor(budgetCpus));
  const out = new Set<number>();
  for (let n = 1; n < max; n *= 2) out.add(n);
  out.add(max);
  return [...out].slice(-MAX_CANDIDATES);
}

async function measureLayouts(model: LlamaModel, role: ModelRole, candidates: Layout[]): Promise<ThreadTrial[]> {
  // Fewest threads first: they cannot oversubscribe, so they set a sane cap for the rest.
  const runs = await compare(candidates, candidates.length > 1 ? ROUNDS : 1, (layout, capMs) =>
    role === 'embed' ? embedRun(model, layout) : generateRun(model, layout, THREAD_WORKLOAD, capMs),
  );
  return candidates.map((layout) => {
    const all = runs.get(layout)!;
    const mid = median(all);
    return {
      threads: layout.threads,
      contexts: mid.contexts,
      tokens: mid.tokens,
      ms: mean(all),
      tokensPerSecond: mid.tokensPerSecond,
      runs: all.length,
      cutOff: all.some((r) => r.cutOff),
    };
  });
}

async function measureFlashAttention(model: LlamaModel, threads: number): Promise<FlashAttentionTrial[]> {
  // The difference at this prompt length is large enough that one round decides.
  const runs = await compare([false, true], 1, (enabled, capMs) =>
    generateRun(model, { threads, contexts: 1 }, { ...FLASH_WORKLOAD, flashAttention: enabled }, capMs),
  );
  return [...runs].map(([enabled, r]) => ({ enabled, ms: mean(r) }));
}

/** Runs each variant once per round, capping every run at twice the fastest so far (in time per workload). */
async function compare<V>(
  variants: V[],
  rounds: number,
  run: (variant: V, capMs: number) => Promise<Run>,
): Promise<Map<V, Run[]>> {
  const runs = new Map<V, Run[]>(variants.map((v) => [v, []]));
  const started = performance.now();
  let fastest = Infinity;
  for (let round = 0; round < rounds; round++) {
    if (round > 0 && performance.now() - started > MORE_ROUNDS_WITHIN_MS) break;
    for (const v of variants) {
      const r = await run(v, Number.isFinite(fastest) ? 2 * fastest : FIRST_RUN_CAP_MS);
      fastest = Math.min(fastest, r.ms);
      runs.get(v)!.push(r);
    }
  }
  return runs;
}

function mean(runs: Run[]): number {
  return round(runs.reduce((sum, r) => sum + r.ms, 0) / runs.length);
}

function median(runs: Run[]): Run {
  return [...runs].sort((a, b) => a.ms - b.ms)[Math.floor(runs.length / 2)]!;
}

async function generateRun(model: LlamaModel, layout: Layout, work: Workload, capMs: number): Promise<Run> {
  const { contextSize, flashAttention } = work;
  return withContexts(
    layout.contexts,
    () => model.createContext({ contextSize, sequences: 1, threads: layout.threads, flashAttention }),
    async (contexts) => {
      const prompt = model.tokenize(PROMPT.repeat(8)).slice(0, work.promptTokens);
      if (model.tokens.bos !== null && model.tokens.shouldPrependBosToken) prompt.unshift(model.tokens.bos);
      const t0 = performance.now();
      const capWallMs = capMs * contexts.length;
      const each = await Promise.all(
        contexts.map(async (context) => {
          let firstAt = t0;
          let generated = 0;
          // Raw evaluation ignores end-of-text so every run does exactly the same work.
          for await (const _token of context.getSequence().evaluate(prompt)) {
            if (++generated === 1) firstAt = performance.now();
            if (generated >= work.generate || performance.now() - t0 > capWallMs) break;
          }
          const end = performance.now();
          return { generated, rate: generated > 1 ? ((generated - 1) * 1000) / (end - firstAt) : 0 };
        }),
      );
      const elapsed = performance.now() - t0;
      const generated = each.reduce((n, c) => n + c.generated, 0);
      const wanted = work.generate * contexts.length;
      const cutOff = generated < wanted;
      // A run cut off is scored by extrapolating it to the whole workload.
      const wallMs = cutOff ? (generated > 0 ? (elapsed * wanted) / generated : Infinity) : elapsed;
      return {
        contexts: contexts.length,
        tokens: prompt.length * contexts.length + generated,
        ms: round(wallMs / contexts.length),
        tokensPerSecond: round(each.reduce((sum, c) => sum + c.rate, 0)),
        cutOff,
      };
    },
  );
}

async function embedRun(model: LlamaModel, layout: Layout): Promise<Run> {
  return withContexts(
    layout.contexts,
    () => model.createEmbeddingContext({ contextSize: 256, threads: layout.threads }),
    async (contexts) => {
      const text = PROMPT.slice(0, 200);
      const tokens = contexts[0]!.calculateInputLength(text) * EMBED_REPEATS * contexts.length;
      const t0 = performance.now();
      await Promise.all(
        contexts.map(async (context) => {
          for (let i = 0; i < EMBED_REPEATS; i++) await context.getEmbeddingFor(text);
        }),
      );
      const ms = performance.now() - t0;
      return {
        contexts: contexts.length,
        tokens,
        ms: round(ms / contexts.length),
        tokensPerSecond: round((tokens * 1000) / ms),
        cutOff: false,
      };
    },
  );
}

/**
 * Creates up to `count` contexts for one run and disposes of them after it. Where memory runs out the layout
 * is measured with the contexts that fit (the worker's pool falls back the same way).
 */
async function withContexts<C extends { dispose(): Promise<void> }>(
  count: number,
  create: () => Promise<C>,
  use: (contexts: C[]) => Promise<Run>,
): Promise<Run> {
  const contexts: C[] = [];
  try {
    for (let i = 0; i < count; i++) {
      try {
        contexts.push(await create());
      } catch (err) {
        if (!(err instanceof InsufficientMemoryError) || contexts.length === 0) throw err;
        break;
      }
    }
    return await use(contexts);
  } finally {
    await Promise.all(contexts.map((c) => c.dispose()));
  }
}

function defaultCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'docfleet');
}

/** Anything that changes the answer: the model file, the CPU, the budget, the role and the backend. */
async function cacheKey(opts: TuneOptions): Promise<string> {
  const file = path.resolve(opts.modelPath);
  const st = await stat(file);
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown-cpu';
  const backend = opts.model.llama.gpu || 'cpu';
  return [CACHE_FORMAT, file, st.size, Math.round(st.mtimeMs), cpu, opts.budget.cpus, opts.role, backend].join('|');
}

async function readCache(file: string): Promise<Record<string, ThreadDecision>> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, ThreadDecision>) : {};
  } catch {
    // Missing or corrupt: measuring again is the cure.
    return {};
  }
}

async function writeCache(file: string, data: Record<string, ThreadDecision>): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(data, null, 2) + '\n');
  await rename(tmp, file);
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
