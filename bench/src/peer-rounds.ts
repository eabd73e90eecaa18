import path from 'node:path';
import { detectCpuBudget } from '../../dist/shared/cpu-budget.js';
import { fleetEnv, summarize, type Context, type Summary } from './bench-context.js';
import { log, median, round, runChild, WORKLOAD } from './common.js';
import { fleetRun } from './fleet.js';
import { peerRun } from './peer-client.js';
import { startPeer, type PeerBinary } from './peer-server.js';
import type { CeilingInput, Layout } from './scenarios/ceiling.js';
import type { GenerationRun } from './scenarios/generation-run.js';
import type { PeerPrompts, PeerPromptsInput } from './scenarios/peer-prompts.js';

/** One comparison: docfleet, llama-server and the ceiling on one model and one class of documents. */
export interface PeerCase {
  name: string;
  modelPath: string;
  files: string[];
  /** Tokens per sequence (docfleet --context-size; llama-server gets slots × this). */
  contextSize: number;
  maxTokens: number;
  /** docfleet rounds; the ceiling runs one more, so that each docfleet round has one on either side. */
  rounds: number;
  /** How long one docfleet batch may take. */
  timeoutMs: number;
}

/** A peer variant: llama-server at one thread count. */
interface PeerSide {
  label: string;
  threads: number;
  rounds: Summary[];
}

export interface PeerCaseResult {
  name: string;
  model: string;
  documents: number;
  contextSize: number;
  maxTokens: number;
  chatTemplate: boolean;
  seconds: number;
  /** Why there are no llama-server rows, if there are none. */
  peerUnavailable?: string;
  threadPass: { threads: number; wallSeconds: number; tokensPerSecond: number }[];
  /** Rounds in which docfleet evaluated other prompts than the ceiling and llama-server were sent (none expected). */
  promptMismatches: string[];
  /** Every layout of the first ceiling round (the later rounds run only the best). */
  ceilingLayouts: Summary[];
  rounds: { ceiling: Summary[]; docfleet: Summary[]; peer: PeerSide[] };
  /** Each side's median round by documents/s. */
  typical: { ceiling: Summary; docfleet: Summary; peer: { label: string; threads: number; summary: Summary }[] };
  /** Medians of per-round ratios. */
  ratios: {
    docfleetVsCeiling: { documentsPerSecond: number; tokensPerSecond: number };
    docfleetVsPeer: { label: string; documentsPerSecond: number; tokensPerSecond: number }[];
  };
}

/** A side's typical round: the median one by documents/s (of an even number, the faster of the middle two). */
export function typical(rounds: Summary[]): Summary {
  return rounds.slice().sort((a, b) => a.documentsPerSecond - b.documentsPerSecond)[Math.floor(rounds.length / 2)]!;
}

/**
 * Alternates ceiling, docfleet and llama-server rounds (the machine's speed drifts; neighbours share its
 * state) and judges by the median of per-round ratios. The first ceiling round tries every context layout and
 * runs docfleet's thread tuner; later ones run its best layout. llama-server runs with docfleet's tuned thread
 * count and with its own best count of 1…budget: with a budget of two, both counts run every round; with more, a
 * quick pass over a third of the documents picks the best first.
 */
export async function peerCase(
  ctx: Context,
  binary: PeerBinary,
  c: PeerCase,
  /** Called with every round so far after each round, so a run stopped in a long case keeps what it measured. */
  onRound: (rounds: { ceiling: Summary[][]; docfleet: Summary[]; peer: PeerSide[] }) => Promise<void> = async () => {},
): Promise<PeerCaseResult> {
  const started = Date.now();
  const sequences = WORKLOAD.sequences;
  const { chat, prompts } = await runChild<PeerPrompts>('peer-prompts', {
    modelPath: c.modelPath,
    files: c.files,
    contextSize: c.contextSize,
    maxTokens: c.maxTokens,
  } satisfies PeerPromptsInput);
  const ceilingInput: CeilingInput = {
    modelPath: c.modelPath,
    files: c.files,
    prompts,
    maxTokens: c.maxTokens,
    contextSize: c.contextSize,
    sequences,
    tuneCacheDir: path.join(ctx.cacheHome, 'docfleet'),
  };
  const ceilingRound = async (r: number, layout?: Layout) => {
    log(`${c.name}: ceiling ${r}/${c.rounds + 1}`);
    const layouts = await ctx.measure(`${c.name}: ceiling ${r}`, () =>
      runChild<GenerationRun[]>('ceiling', { ...ceilingInput, layout }),
    );
    return layouts.map(summarize);
  };
  const first = await ceilingRound(1);
  const ceiling: Summary[][] = [first];
  const docfleet: Summary[] = [];
  const peers: PeerSide[] = [];
  const saveRounds = () => onRound({ ceiling, docfleet, peer: peers });
  await saveRounds();
  const best = first.reduce((a, b) => (b.documentsPerSecond > a.documentsPerSecond ? b : a));
  const bestLayout = layoutOf(best);
  const tuned = {
    threads: best.settings.tunedThreads as number,
    flashAttention: best.settings.flashAttention as boolean,
  };

  const server = (threads: number) =>
    startPeer((binary as { path: string }).path, {
      modelPath: c.modelPath,
      slots: sequences,
      contextPerSlot: c.contextSize,
      threads,
      flashAttention: tuned.flashAttention,
    });
  const serve = async (threads: number, list: number[][]) => {
    const peer = await server(threads);
    try {
      const run = await peerRun(peer.url, list, sequences, c.maxTokens);
      return summarize({ ...run, settings: { threads, slots: sequences, args: peer.args.join(' ') } });
    } finally {
      await peer.stop();
    }
  };

  // A server that cannot run this model leaves the peer rows out, not the rest of the run.
  const failed = (err: unknown) => {
    const why = `llama-server failed: ${(err as Error).message.split('\n')[0]}`;
    log(`${c.name}: ${why}`);
    return why;
  };
  const threadPass: PeerCaseResult['threadPass'] = [];
  let peerUnavailable = 'unavailable' in binary ? binary.unavailable : undefined;
  const counts = Array.from({ length: detectCpuBudget().cpus }, (_, i) => i + 1);
  const tunedLabel = `llama-server -t ${tuned.threads} (docfleet's tuned threads)`;
  if ('path' in binary && counts.length <= 2) {
    // Every thread count runs in every round, so the rounds themselves show the server's best.
    for (const t of counts) {
      peers.push({ label: t === tuned.threads ? tunedLabel : `llama-server -t ${t}`, threads: t, rounds: [] });
    }
  } else if ('path' in binary) {
    const quick = prompts.slice(0, Math.max(sequences, Math.ceil(prompts.length / 3)));
    try {
      for (const t of counts) {
        log(`${c.name}: llama-server thread pass, -t ${t}, ${quick.length} documents`);
        const s = await ctx.measure(`${c.name}: llama-server -t ${t} (thread pass)`, () => serve(t, quick));
        threadPass.push({ threads: t, wallSeconds: s.wallSeconds, tokensPerSecond: s.tokensPerSecond });
      }
    } catch (err) {
      peerUnavailable = failed(err);
    }
    if (!peerUnavailable) {
      const fastest = threadPass.reduce((a, b) => (b.wallSeconds < a.wallSeconds ? b : a)).threads;
      peers.push({ label: tunedLabel, threads: tuned.threads, rounds: [] });
      if (fastest !== tuned.threads) {
        peers.push({ label: `llama-server -t ${fastest} (its best of the pass)`, threads: fastest, rounds: [] });
      }
    }
  }

  const promptTokens = prompts.reduce((n, p) => n + p.length, 0);
  const mismatches: string[] = [];
  for (let r = 1; r <= c.rounds; r++) {
    if (r > 1) {
      ceiling.push(await ceilingRound(r, bestLayout));
      await saveRounds();
    }
    log(`${c.name}: docfleet ${r}/${c.rounds}`);
    const opts = {
      workers: 1,
      sequences,
      contextSize: c.contextSize,
      maxTokens: c.maxTokens,
      docsDir: path.dirname(c.files[0]!),
      warmupDir: ctx.warmupDir,
      timeoutMs: c.timeoutMs,
    };
    const env = { ...fleetEnv(ctx), modelPath: c.modelPath };
    const run = await ctx.measure(`${c.name}: docfleet ${r}`, () => fleetRun(env, opts));
    // node-llama-cpp's meter counts each prompt's last token (its logits give the first output token) as output.
    if (run.tokensIn !== promptTokens - run.docs) {
      mismatches.push(
        `round ${r}: docfleet evaluated ${run.tokensIn + run.docs} prompt tokens, the others ${promptTokens}`,
      );
    }
    docfleet.push(summarize({ ...run, tokensIn: promptTokens }));
    await ctx.flush();
    await saveRounds();
    try {
      for (const p of peers) {
        log(`${c.name}: ${p.label} ${r}/${c.rounds}`);
        p.rounds.push(await ctx.measure(`${c.name}: ${p.label} ${r}`, () => serve(p.threads, prompts)));
        await saveRounds();
      }
    } catch (err) {
      peerUnavailable = failed(err);
      peers.length = 0;
    }
  }
  ceiling.push(await ceilingRound(c.rounds + 1, bestLayout));

  // The ceiling's rounds in its best layout: the first round holds every layout.
  const same = (s: Summary) =>
    layoutOf(s).contexts === bestLayout.contexts && layoutOf(s).threads === bestLayout.threads;
  const ceilingBest = ceiling.map((layouts) => layouts.find(same)!);
  type Rate = 'documentsPerSecond' | 'tokensPerSecond';
  const around = (r: number, key: Rate) => Math.sqrt(ceilingBest[r]![key] * ceilingBest[r + 1]![key]);
  // Each docfleet round against its neighbours on the other side; the median of these ratios is the verdict.
  const ratioTo = (against: (r: number, key: Rate) => number) => ({
    documentsPerSecond: round(
      median(docfleet.map((d, r) => d.documentsPerSecond / against(r, 'documentsPerSecond'))),
      3,
    ),
    tokensPerSecond: round(median(docfleet.map((d, r) => d.tokensPerSecond / against(r, 'tokensPerSecond'))), 3),
  });
  return {
    name: c.name,
    model: path.basename(c.modelPath),
    documents: c.files.length,
    contextSize: c.contextSize,
    maxTokens: c.maxTokens,
    chatTemplate: chat,
    seconds: round((Date.now() - started) / 1000),
    ...(peerUnavailable ? { peerUnavailable } : {}),
    threadPass,
    promptMismatches: mismatches,
    ceilingLayouts: first,
    rounds: { ceiling: ceilingBest, docfleet, peer: peers },
    typical: {
      ceiling: typical(ceilingBest),
      docfleet: typical(docfleet),
      peer: peers.map((p) => ({ label: p.label, threads: p.threads, summary: typical(p.rounds) })),
    },
    ratios: {
      docfleetVsCeiling: ratioTo(around),
      docfleetVsPeer: peers.map((p) => ({ label: p.label, ...ratioTo((r, key) => p.rounds[r]![key]) })),
    },
  };
}

function layoutOf(s: Summary): Layout {
  return { contexts: s.settings.contexts as number, threads: s.settings.threads as number };
}
