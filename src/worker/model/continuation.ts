import {
  GgufArchitectureType,
  type GgufMetadata,
  type LlamaContextSequence,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import { lockstepOf } from './lockstep.js';
import { perModel } from './per-model.js';
import { loopAt } from './repeated-sentence.js';

export interface Continuation {
  text: string;
  stopReason: 'eogToken' | 'maxTokens' | 'contextFull';
  /** performance.now() when the first token came out (undefined if none did). */
  firstTokenAt?: number;
}

/** How often (in generated tokens) free text is checked for a loop that does not end its sentences. */
const LOOP_CHECK_TOKENS = 16;

export interface ContinueOptions {
  signal?: AbortSignal;
  /**
   * Token sequences that end the output besides end-of-generation (a chat template's stop triggers); the
   * matched tokens are not part of the text.
   */
  stops?: readonly Token[][];
  /** Stop where the text starts looping: a repeated sentence or phrase (free text; see repeated-sentence.ts). */
  stopAtRepeat?: boolean;
}

/**
 * Plain greedy continuation of `prompt`, with the sampling LlamaCompletion applies by default (stop at
 * end-of-generation or `maxTokens`), driven on the sequence directly. No repeat penalty: LlamaCompletion hands
 * the sampler its last 64 tokens but no penalty, and node-llama-cpp's default penalty of 1 disables it, so
 * collecting those tokens at every step would be work without effect. LlamaCompletion and LlamaChatSession also detokenise every token as it comes and run their
 * stop-string detectors, streaming work nobody here reads: on a small model that runs thousands of tokens a
 * second it costs throughput, since the same thread feeds every sequence. The text is detokenised once at the
 * end (and at sentence ends when looking for a repeat), so a character split over tokens comes out whole.
 */
export async function continueTokens(
  model: LlamaModel,
  sequence: LlamaContextSequence,
  prompt: Token[],
  maxTokens: number,
  opts: ContinueOptions = {},
): Promise<Continuation> {
  // Clearing waits for the context's evaluation in progress: not for a sequence that is empty already.
  if (sequence.nextTokenIndex > 0) await sequence.clearHistory();
  const stops = [...extraStopTokens(model)].map((t) => [t]).concat(opts.stops ?? []);
  const out: Token[] = [];
  let stopReason: Continuation['stopReason'] = 'contextFull';
  let firstTokenAt: number | undefined;
  const tokens = sequence.evaluate(prompt, { yieldEogToken: true });
  // In step with the context's other generating sequences, so that each decode carries all their tokens.
  const lockstep = lockstepOf(sequence.context).member();
  try {
    for await (const token of tokens) {
      firstTokenAt ??= performance.now();
      opts.signal?.throwIfAborted();
      if (model.isEogToken(token)) {
        stopReason = 'eogToken';
        break;
      }
      out.push(token);
      const stop = stops.find((s) => s.length <= out.length && s.every((t, i) => out[out.length - s.length + i] === t));
      if (stop) {
        out.length -= stop.length;
        stopReason = 'eogToken';
        break;
      }
      // Looked for at each sentence end, and every few tokens for a loop inside a sentence.
      const look = opts.stopAtRepeat && (endsSentence(model, token) || out.length % LOOP_CHECK_TOKENS === 0);
      if (look && loopAt(model.detokenize(out)) !== undefined) {
        stopReason = 'eogToken';
        break;
      }
      if (out.length >= maxTokens) {
        stopReason = 'maxTokens';
        break;
      }
      if (sequence.nextTokenIndex >= sequence.contextSize - 1) break;
      await lockstep.step();
    }
  } finally {
    lockstep.leave();
  }
  return { text: model.detokenize(out), stopReason, firstTokenAt };
}

/** Whether each token seen so far holds the end of a sentence, per model. */
const sentenceEnds = perModel(() => new Map<Token, boolean>());

function endsSentence(model: LlamaModel, token: Token): boolean {
  const known = sentenceEnds(model);
  let ends = known.get(token);
  if (ends === undefined) known.set(token, (ends = /[.!?\n]/.test(model.detokenize([token]))));
  return ends;
}

/** Tokens that end a completion besides end-of-generation: Gemma's file separators, as LlamaCompletion has it. */
const extraStopTokens = perModel((model): Set<Token> => {
  const stops = new Set<Token>();
  // The metadata is what the file holds, whatever its type says: a section may be missing.
  const metadata: Partial<GgufMetadata> = model.fileInfo.metadata;
  const arch = metadata.general?.architecture;
  if (arch === GgufArchitectureType.gemma || arch === GgufArchitectureType.gemma2) {
    for (const token of model.iterateAllTokens()) {
      const text = model.detokenize([token], true);
      if (text === '<|file_separator|>' || text === '<|fim_prefix|>') stops.add(token);
    }
  }
  return stops;
});
