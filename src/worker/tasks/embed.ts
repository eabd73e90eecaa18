import type { LlamaEmbeddingContext } from 'node-llama-cpp';
import { PermanentError } from '../../shared/errors.js';
import type { EmbedOutput, EmbeddingChunk, TaskParams } from '../../shared/job-types.js';
import { pageAt, type DocumentText } from '../document-text.js';
import { boundaryBefore, type TaskResult } from './generation.js';

export const DEFAULT_CHUNK_CHARS = 1000;
const MIN_CHUNK_CHARS = 50;
const MAX_CHUNK_CHARS = 100_000;

export interface EmbedEnv {
  context: LlamaEmbeddingContext;
  /** Tokens one input may have, BOS/EOS included. */
  maxInputTokens: number;
  dimensions: number;
  signal?: AbortSignal;
}

/**
 * One L2-normalised vector per chunk. The embedding context evaluates one input at a time (its calls
 * queue on a lock), so concurrent jobs interleave chunk by chunk; each chunk is a single batch.
 */
export async function embed(env: EmbedEnv, doc: DocumentText, params: TaskParams): Promise<TaskResult<EmbedOutput>> {
  const target = params.chunkChars ?? DEFAULT_CHUNK_CHARS;
  if (!Number.isInteger(target) || target < MIN_CHUNK_CHARS || target > MAX_CHUNK_CHARS) {
    throw new PermanentError('bad-params', `chunkChars must be an integer from ${MIN_CHUNK_CHARS} to ${MAX_CHUNK_CHARS}; got ${target}`);
  }
  const fits = (start: number, end: number) =>
    env.context.calculateInputLength(doc.text.slice(start, end)) <= env.maxInputTokens;
  const chunks: EmbeddingChunk[] = [];
  let tokensIn = 0;
  for (const [start, end] of chunkRanges(doc.text, target, fits, doc.pageStarts)) {
    if (env.signal?.aborted) throw env.signal.reason;
    const piece = doc.text.slice(start, end);
    const { vector } = await env.context.getEmbeddingFor(piece);
    tokensIn += env.context.calculateInputLength(piece);
    chunks.push({ start, end, page: pageAt(doc, start), vector: normalised(vector) });
  }
  return { output: { dimensions: env.dimensions, chunks }, tokensIn, tokensOut: 0 };
}

/**
 * [start, end) ranges of about `target` characters: whole paragraphs where they fit, long paragraphs
 * split at sentences or words, each range trimmed of surrounding whitespace and halved until `fits`.
 * No range spans a page start, so the page a chunk cites holds all of it.
 */
export function chunkRanges(
  text: string,
  target: number,
  fits: (start: number, end: number) => boolean,
  pageStarts: number[] = [0],
): Array<[number, number]> {
  const chunks: Array<[number, number]> = [];
  pageStarts.forEach((pageStart, i) => {
    const pieces: Array<[number, number]> = [];
    for (const [s, e] of paragraphs(text, pageStart, pageStarts[i + 1] ?? text.length)) {
      let start = s;
      while (e - start > target) {
        const at = boundaryBefore(text, start + target, start + Math.floor(target / 2));
        pieces.push([start, trimEnd(text, start, at)]);
        start = skipSpace(text, at, e);
      }
      if (start < e) pieces.push([start, e]);
    }
    let open: [number, number] | undefined;
    for (const [s, e] of pieces) {
      if (open && e - open[0] <= target) open[1] = e;
      else chunks.push((open = [s, e]));
    }
  });
  return chunks.flatMap(([s, e]) => splitToFit(text, s, e, fits));
}

function splitToFit(text: string, s: number, e: number, fits: (start: number, end: number) => boolean): Array<[number, number]> {
  if (e - s <= 1 || fits(s, e)) return [[s, e]];
  const cut = boundaryBefore(text, s + Math.floor((e - s) / 2), s + Math.ceil((e - s) / 4));
  const left = trimEnd(text, s, cut);
  const right = skipSpace(text, cut, e);
  return [...(left > s ? splitToFit(text, s, left, fits) : []), ...(right < e ? splitToFit(text, right, e, fits) : [])];
}

/** Ranges of text[from, to) between blank lines, without their surrounding whitespace. */
function paragraphs(text: string, from: number, to: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const re = /\n[^\S\n]*\n\s*/g;
  re.lastIndex = from;
  let start = from;
  for (let m = re.exec(text); ; m = re.exec(text)) {
    if (m && m.index >= to) m = null;
    const end = m ? m.index : to;
    const s = skipSpace(text, start, end);
    const e = trimEnd(text, s, end);
    if (e > s) out.push([s, e]);
    if (!m) return out;
    start = m.index + m[0].length;
  }
}

function skipSpace(text: string, i: number, end: number): number {
  while (i < end && /\s/.test(text[i]!)) i++;
  return i;
}

function trimEnd(text: string, start: number, end: number): number {
  while (end > start && /\s/.test(text[end - 1]!)) end--;
  return end;
}

function normalised(vector: readonly number[]): Float32Array {
  const out = Float32Array.from(vector);
  let sum = 0;
  for (const v of out) sum += v * v;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i] = out[i]! / norm;
  return out;
}
