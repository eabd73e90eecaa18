import { PermanentError } from '../../../shared/errors.js';
import type { EmbedOutput, EmbedParams, EmbeddingChunk } from '../../../shared/tasks/embed.js';
import type { DocumentText } from '../../text/document-text.js';
import type { EmbeddingPool } from '../../model/embedding-pool.js';
import { jobOverlap } from '../../text/chunk-budget.js';
import { chunkDocument } from '../../text/token-chunker.js';
import type { TaskResult } from '../../model/generation.js';

/** Tokens per chunk when a job sets neither chunkTokens nor chunkChars (about 1,000 characters of English). */
export const DEFAULT_CHUNK_TOKENS = 256;
const MIN_CHUNK_TOKENS = 8;
const MAX_CHUNK_TOKENS = 32_768;
const MIN_CHUNK_CHARS = 50;
const MAX_CHUNK_CHARS = 100_000;

export interface EmbedEnv {
  pool: EmbeddingPool;
  dimensions: number;
  signal?: AbortSignal;
}

/** Chunk sizing a job asked for, checked; tokens are capped by what one input of the model may hold. */
export interface ChunkSizing {
  maxTokens: number;
  overlapTokens: number;
  /** No chunk longer than this many characters (params.chunkChars), if set. */
  maxChars?: number;
}

export function chunkSizing(params: EmbedParams, maxInputTokens: number): ChunkSizing {
  const { chunkTokens, chunkChars, chunkOverlapTokens } = params;
  checkRange('chunkTokens', chunkTokens, MIN_CHUNK_TOKENS, MAX_CHUNK_TOKENS);
  checkRange('chunkChars', chunkChars, MIN_CHUNK_CHARS, MAX_CHUNK_CHARS);
  // chunkChars alone keeps its old meaning (chunks of at most that many characters), now also within the
  // model's input limit; otherwise chunks are measured in the model's tokens.
  const wanted = chunkTokens ?? (chunkChars !== undefined ? maxInputTokens : DEFAULT_CHUNK_TOKENS);
  const maxTokens = Math.min(wanted, maxInputTokens);
  const overlapTokens = jobOverlap(chunkOverlapTokens, maxTokens, 0);
  return { maxTokens, overlapTokens, ...(chunkChars !== undefined ? { maxChars: chunkChars } : {}) };
}

/** A size the job set must be an integer in [min, max]: otherwise the job fails at once, as the job's fault. */
function checkRange(name: string, value: number | undefined, min: number, max: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < min || value > max))
    throw new PermanentError('bad-params', `${name} must be an integer from ${min} to ${max}; got ${value}`);
}

/**
 * One L2-normalised vector per chunk. Chunks are cut by the model's own tokenizer (token-chunker: page,
 * paragraph and sentence boundaries first), each within one input of the model; every chunk carries its
 * [start, end) offsets into the document text and its first and last page. All chunks of the document go
 * to the worker's EmbeddingPool at once, so every embedding context stays busy and the chunks of
 * concurrent jobs share the same contexts in the order they were asked for.
 */
export async function embed(env: EmbedEnv, doc: DocumentText, params: EmbedParams): Promise<TaskResult<EmbedOutput>> {
  const { pool, signal } = env;
  const sizing = chunkSizing(params, pool.maxInputTokens);
  const maxChars = sizing.maxChars;
  // A character cap folds into the count: a piece fits iff it has at most maxTokens tokens AND at most
  // maxChars characters (both grow with the piece, so the chunker's search stays valid).
  const countTokens =
    maxChars === undefined
      ? (text: string) => pool.inputLength(text)
      : (text: string) => (text.length > maxChars ? sizing.maxTokens + 1 : pool.inputLength(text));
  const chunks = chunkDocument(doc, { maxTokens: sizing.maxTokens, overlapTokens: sizing.overlapTokens, countTokens });
  if (signal?.aborted) throw signal.reason;

  let tokensIn = 0;
  const vectors = chunks.map((chunk) => {
    const tokens = pool.tokenize(chunk.text);
    tokensIn += pool.inputLength(tokens);
    return pool.embed(tokens, signal);
  });
  // Wait for every vector even when one fails, so no evaluation of this job outlives it.
  const settled = await Promise.allSettled(vectors);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  const out: EmbeddingChunk[] = chunks.map((chunk, i) => ({
    start: chunk.start,
    end: chunk.end,
    page: chunk.pageStart,
    pageStart: chunk.pageStart,
    pageEnd: chunk.pageEnd,
    vector: (settled[i] as PromiseFulfilledResult<Float32Array>).value,
  }));
  return { output: { dimensions: env.dimensions, chunks: out }, tokensIn, tokensOut: 0 };
}
