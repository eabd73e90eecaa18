import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from './bench-context.js';
import { documentText, log, markdownTable, ratio, round, runChild, WORKLOAD } from './common.js';
import type { EmbedInput, EmbedRun } from './scenarios/embed.js';

const EMBED = { documents: 12, paragraphs: 60, rounds: 2, contextSize: 2048 };

/**
 * Embedding throughput (`npm run bench -- embed`): docfleet's embed task on one EmbeddingPool context (what a
 * worker had before the pool: one LlamaEmbeddingContext, inputs one at a time) against the pool a worker
 * creates (one context per core of the CPU budget at the tuned thread count), WORKLOAD.sequences jobs at once.
 */
export async function embedding(ctx: Context) {
  const dir = path.join(ctx.tmp, 'embed-docs');
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  let chars = 0;
  for (let d = 0; d < EMBED.documents; d++) {
    const file = path.join(dir, `long-${d}.txt`);
    const text = Array.from({ length: EMBED.paragraphs }, (_, k) =>
      documentText(300_000 + d * EMBED.paragraphs + k, 6),
    ).join('\n');
    await writeFile(file, text);
    chars += text.length;
    files.push(file);
  }
  const base = {
    modelPath: ctx.modelPath,
    files,
    jobsAtOnce: WORKLOAD.sequences,
    contextSize: EMBED.contextSize,
    tuneCacheDir: path.join(ctx.cacheHome, 'docfleet'),
  };
  const runs: { one: EmbedRun[]; pool: EmbedRun[] } = { one: [], pool: [] };
  for (let r = 1; r <= EMBED.rounds; r++) {
    log(
      `embed ${r}/${EMBED.rounds}: ${files.length} documents, ${WORKLOAD.sequences} jobs at once, one context then the worker's pool`,
    );
    runs.one.push(
      await ctx.measure(`embed 1 context ${r}`, () =>
        runChild<EmbedRun>('embed', { ...base, contexts: 1 } satisfies EmbedInput),
      ),
    );
    runs.pool.push(
      await ctx.measure(`embed pool ${r}`, () =>
        runChild<EmbedRun>('embed', { ...base, contexts: 'auto' } satisfies EmbedInput),
      ),
    );
  }
  const best = (list: EmbedRun[]) => list.reduce((a, b) => (b.tokensPerSecond > a.tokensPerSecond ? b : a));
  const one = best(runs.one);
  const pool = best(runs.pool);
  const text = [
    `### Embedding (${files.length} documents of ~${round(chars / files.length / 1000)}k characters, embed defaults, ${WORKLOAD.sequences} jobs at once)`,
    '',
    markdownTable(
      ['embedding contexts', 'threads each', 'chunks', 'tokens', 'wall s', 'tokens/s'],
      [one, pool].map((e) => [e.contexts, e.threads, e.chunks, e.tokens, round(e.wallMs / 1000, 2), e.tokensPerSecond]),
    ),
    '',
    `Best of ${EMBED.rounds} alternated rounds; tokens/s by round: one context ${runs.one.map((e) => e.tokensPerSecond).join(', ')}; pool ${runs.pool.map((e) => e.tokensPerSecond).join(', ')}. Pool / one context: ${ratio(pool.tokensPerSecond, one.tokensPerSecond)}.`,
  ].join('\n');
  return { json: { one, pool, ratio: ratio(pool.tokensPerSecond, one.tokensPerSecond), rounds: runs }, text };
}
