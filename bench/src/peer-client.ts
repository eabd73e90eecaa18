import { timedRun, type GenerationRun } from './scenarios/generation-run.js';

/** Drives llama-server's /completion the way a queue worker in front of it would: one request per free slot. */

/** The part of /completion's answer the benchmark reads. */
interface CompletionAnswer {
  tokens_predicted: number;
  tokens_evaluated: number;
  timings: { prompt_n: number; prompt_ms: number; predicted_n: number; predicted_ms: number };
}

/**
 * docfleet's sampling: greedy. LlamaCompletion's repeat penalty over the last 64 tokens has a penalty of 1 in
 * node-llama-cpp 3.22 unless one is given (docfleet gives none), so it changes no logit; the same holds here.
 * Temperature 0 keeps only the most likely token.
 */
const GREEDY = { samplers: ['penalties', 'temperature'], temperature: 0, repeat_penalty: 1, repeat_last_n: 64 };

async function complete(url: string, prompt: number[], maxTokens: number): Promise<CompletionAnswer> {
  const res = await fetch(`${url}/completion`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, n_predict: maxTokens, cache_prompt: false, stream: false, ...GREEDY }),
  });
  if (!res.ok) throw new Error(`llama-server /completion: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as CompletionAnswer;
}

/**
 * Sends every prompt (token ids, exactly what docfleet evaluates) with `slots` requests in flight; a slot's next
 * request goes as soon as its answer is in. One short request per slot first, untimed, as the ceiling and
 * docfleet warm up.
 */
export async function peerRun(
  url: string,
  prompts: number[][],
  slots: number,
  maxTokens: number,
): Promise<GenerationRun> {
  await Promise.all(Array.from({ length: slots }, (_, i) => complete(url, prompts[i % prompts.length]!, 8)));
  const run = await timedRun(prompts.length, slots, async (_, i) => {
    const answer = await complete(url, prompts[i]!, maxTokens);
    // The server's own figure: the prompt's evaluation, whose last logits give the first token.
    return {
      tokensIn: answer.tokens_evaluated,
      tokensOut: answer.tokens_predicted,
      firstTokenMs: answer.timings.prompt_ms,
    };
  });
  return { ...run, settings: {} };
}
