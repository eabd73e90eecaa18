import { PermanentError } from '../../shared/errors.js';

/**
 * Tokens a chunk may have when a generation prompt holds one chunk: the context minus the prompt around
 * it, the output budget and a small margin for the tokens a chunk gains at its seams with the prompt
 * (merges, a BOS token, a template's extra tokens).
 */
export function chunkBudget(contextSize: number, promptTokens: number, outputTokens: number): number {
  for (const [name, n] of [
    ['contextSize', contextSize],
    ['promptTokens', promptTokens],
    ['outputTokens', outputTokens],
  ] as const) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer; got ${n}`);
  }
  const budget = contextSize - promptTokens - outputTokens - safetyMargin(contextSize);
  if (budget <= 0) {
    throw new PermanentError(
      'bad-params',
      `a ${contextSize}-token context holds no document after ${promptTokens} prompt tokens, ${outputTokens} output tokens ` +
        `and a ${safetyMargin(contextSize)}-token margin`,
    );
  }
  return budget;
}

/**
 * The overlap a job asked for (TaskParams.chunkOverlapTokens), or `fallback`, checked against the chunk size:
 * a bad value is the job's fault, so it fails the job at once rather than as the chunker's RangeError.
 */
export function jobOverlap(requested: number | undefined, maxTokens: number, fallback: number): number {
  const overlap = requested ?? fallback;
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= maxTokens) {
    throw new PermanentError(
      'bad-params',
      `chunkOverlapTokens must be an integer from 0 to ${maxTokens - 1} (below the ${maxTokens}-token chunks); got ${overlap}`,
    );
  }
  return overlap;
}

/** Tokens kept free in a generation context beyond prompt and output: 1/64 of it, at least 8. */
export function safetyMargin(contextSize: number): number {
  return Math.max(8, Math.ceil(contextSize / 64));
}
