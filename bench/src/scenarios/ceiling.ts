import { readFile } from 'node:fs/promises';
import type { LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { summarizePrompt } from '../common.js';
import { timedRun, type GenerationRun } from './generation-run.js';
import { lockstepOf } from '../../../dist/worker/model/lockstep.js';
import { threadCandidates, type Layout } from '../../../dist/worker/model/thread-tuner.js';
import { loadTuned } from './tuned-model.js';

export interface CeilingInput {
  modelPath: string;
  files: string[];
  maxTokens: number;
  contextSize: number;
  /** Sequences in all, as docfleet's --concurrency. */
  sequences: number;
  /** Directory of the thread tuner's cache (shared with the docfleet workers of the same run). */
  tuneCacheDir: string;
  /** The prompts as tokens, one per file (default: summarizePrompt of each file, as a base model gets it). */
  prompts?: number[][];
  /** Run only this layout (default: every layout worth trying). */
  layout?: Layout;
}

export type { Layout };

/**
 * The ceiling: node-llama-cpp driven directly, as fast as we know how, in every layout worth trying. A layout
 * is C contexts of T threads each holding the N sequences between them (`layoutsOf`). Prompts are tokenised before the
 * clock starts and the next prompt goes, as soon as a sequence is free, to the context with the most free sequences. Sampling is what
 * LlamaCompletion does by default (greedy, stop at end-of-generation or the token budget), so the work is exactly what docfleet's summarize task asks for. One run per layout.
 */
export async function ceiling(input: CeilingInput): Promise<GenerationRun[]> {
  const { llama, model, tuning } = await loadTuned(input, 'generate');
  const bos = model.tokens.bos !== null && model.tokens.shouldPrependBosToken;
  const prompts =
    (input.prompts as Token[][] | undefined) ??
    (await Promise.all(
      input.files.map(async (file) => {
        const tokens = model.tokenize(
          summarizePrompt(await readFile(file, 'utf8')),
          false,
          bos ? 'trimLeadingSpace' : undefined,
        );
        return bos ? [model.tokens.bos, ...tokens] : tokens;
      }),
    ));
  const layouts = input.layout ? [input.layout] : layoutsOf(tuning.budget.cpus, input.sequences);
  const runs: GenerationRun[] = [];
  for (const { contexts, threads } of layouts) {
    const shares = Array.from(
      { length: contexts },
      (_, i) => Math.floor(input.sequences / contexts) + (i < input.sequences % contexts ? 1 : 0),
    );
    const made: LlamaContext[] = [];
    for (const sequences of shares) {
      made.push(
        await model.createContext({
          sequences,
          contextSize: input.contextSize,
          threads,
          flashAttention: tuning.flashAttention,
        }),
      );
    }
    const sequences = made.flatMap((c) => Array.from({ length: c.totalSequences }, () => c.getSequence()));
    const run = await timed(model, sequences, prompts, input.maxTokens);
    runs.push({
      ...run,
      settings: {
        contexts,
        sequences: input.sequences,
        contextSize: made[0]!.contextSize,
        threads: made[0]!.currentThreads,
        flashAttention: made[0]!.flashAttention,
        tunedThreads: tuning.threads,
        threadSource: tuning.source,
        threadTrials: tuning.trials,
        flashAttentionTrials: tuning.flashAttentionTrials,
        cpuBudget: tuning.budget,
      },
    });
    await Promise.all(made.map((c) => c.dispose()));
  }
  await llama.dispose();
  return runs;
}

/**
 * Every layout worth trying: for each thread count the tuner would try, 1, 2, 4, … contexts up to what the CPU
 * budget holds at that count (never more contexts than sequences). Fewer contexts share one pass over the
 * weights among more sequences; more contexts run their passes side by side: which wins depends on the model.
 */
export function layoutsOf(cpus: number, sequences: number): Layout[] {
  const layouts: Layout[] = [];
  for (const threads of threadCandidates(cpus)) {
    const most = Math.max(1, Math.min(sequences, Math.floor(cpus / threads)));
    for (let contexts = 1; contexts < most; contexts *= 2) layouts.push({ contexts, threads });
    layouts.push({ contexts: most, threads });
  }
  return layouts;
}

async function timed(
  model: LlamaModel,
  sequences: LlamaContextSequence[],
  prompts: Token[][],
  maxTokens: number,
): Promise<Omit<GenerationRun, 'settings'>> {
  // Warm-up (not timed): one short generation per sequence, so the run starts with allocated buffers.
  await Promise.all(sequences.map((seq, i) => generate(model, seq, prompts[i % prompts.length]!, 8)));
  const free = sequences.slice();
  return timedRun(prompts.length, sequences.length, async (_, i) => {
    const seq = leastBusy(free);
    const started = performance.now();
    try {
      const generated = await generate(model, seq, prompts[i]!, maxTokens);
      const firstTokenMs = generated.firstTokenAt === undefined ? undefined : generated.firstTokenAt - started;
      return { tokensIn: prompts[i]!.length, tokensOut: generated.count, firstTokenMs };
    } finally {
      free.push(seq);
    }
  });
}

/**
 * Takes a free sequence of the context with the most free sequences, as docfleet's pool does: when the last
 * documents of a batch are fewer than the sequences, they spread over the contexts instead of sharing one
 * context's threads while another idles.
 */
function leastBusy(free: LlamaContextSequence[]): LlamaContextSequence {
  const freeIn = (c: LlamaContext) => free.filter((s) => s.context === c).length;
  const best = free.reduce((a, b) => (freeIn(b.context) > freeIn(a.context) ? b : a));
  free.splice(free.indexOf(best), 1);
  return best;
}

/**
 * Generates into a cleared sequence; returns the number of tokens generated (end-of-generation excluded) and
 * when the first came out.
 */
async function generate(
  model: LlamaModel,
  seq: LlamaContextSequence,
  prompt: Token[],
  maxTokens: number,
): Promise<{ count: number; firstTokenAt?: number }> {
  await seq.clearHistory();
  const out: Token[] = [];
  const budget = Math.min(maxTokens, seq.contextSize - prompt.length);
  // No repeat penalty, as docfleet: node-llama-cpp's default penalty (1) disables it.
  const iterator = seq.evaluate(prompt, { evaluationPriority: 5, yieldEogToken: true });
  let firstTokenAt: number | undefined;
  // As docfleet: in step with the context's other sequences, so that each decode carries all their tokens.
  const lockstep = lockstepOf(seq.context).member();
  try {
    for await (const token of iterator) {
      firstTokenAt ??= performance.now();
      if (model.isEogToken(token)) break;
      out.push(token);
      if (out.length >= budget) break;
      await lockstep.step();
    }
  } finally {
    lockstep.leave();
  }
  return { count: out.length, firstTokenAt };
}
