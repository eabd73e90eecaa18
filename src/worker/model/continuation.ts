import {
  GgufArchitectureType,
  type GgufMetadata,
  type LlamaContextSequence,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';

export interface Continuation {
  text: string;
  stopReason: 'eogToken' | 'maxTokens' | 'contextFull';
  /** performance.now() when the first token came out (undefined if none did). */
  firstTokenAt?: number;
}

/** Tokens the repeat penalty looks back over, as LlamaCompletion's default. */
const PENALTY_WINDOW = 64;

/**
 * Plain greedy continuation of `prompt`, with the sampling LlamaCompletion applies by default (repeat penalty
 * over the last 64 tokens, new lines spared; stop at end-of-generation or `maxTokens`), driven on the sequence
 * directly. LlamaCompletion also detokenises every token as it comes and runs its stop-string detectors,
 * streaming work nobody here reads: on a small model that runs thousands of tokens a second it is a few
 * percent of the throughput, since the same thread feeds every sequence. The text is detokenised once at the
 * end, so a character split over tokens comes out whole.
 */
export async function continueTokens(
  model: LlamaModel,
  sequence: LlamaContextSequence,
  prompt: Token[],
  maxTokens: number,
  signal?: AbortSignal,
): Promise<Continuation> {
  // Clearing waits for the context's evaluation in progress: not for a sequence that is empty already.
  if (sequence.nextTokenIndex > 0) await sequence.clearHistory();
  const stops = extraStopTokens(model);
  const out: Token[] = [];
  const nl = model.tokens.nl;
  let stopReason: Continuation['stopReason'] = 'contextFull';
  let firstTokenAt: number | undefined;
  const tokens = sequence.evaluate(prompt, {
    repeatPenalty: {
      punishTokens: () => out.slice(-PENALTY_WINDOW).filter((t) => t !== nl),
      maxPunishTokens: PENALTY_WINDOW,
    },
    yieldEogToken: true,
  });
  for await (const token of tokens) {
    firstTokenAt ??= performance.now();
    signal?.throwIfAborted();
    if (model.isEogToken(token) || stops.has(token)) {
      stopReason = 'eogToken';
      break;
    }
    out.push(token);
    if (out.length >= maxTokens) {
      stopReason = 'maxTokens';
      break;
    }
    if (sequence.nextTokenIndex >= sequence.contextSize - 1) break;
  }
  return { text: model.detokenize(out), stopReason, firstTokenAt };
}

const extraStops = new WeakMap<LlamaModel, Set<Token>>();

/** Tokens that end a completion besides end-of-generation: Gemma's file separators, as LlamaCompletion has it. */
function extraStopTokens(model: LlamaModel): Set<Token> {
  let stops = extraStops.get(model);
  if (!stops) {
    stops = new Set();
    // The metadata is what the file holds, whatever its type says: a section may be missing.
    const metadata: Partial<GgufMetadata> = model.fileInfo.metadata;
    const arch = metadata.general?.architecture;
    if (arch === GgufArchitectureType.gemma || arch === GgufArchitectureType.gemma2) {
      for (const token of model.iterateAllTokens()) {
        const text = model.detokenize([token], true);
        if (text === '<|file_separator|>' || text === '<|fim_prefix|>') stops.add(token);
      }
    }
    extraStops.set(model, stops);
  }
  return stops;
}
