import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SummarySource } from '../../src/shared/job-types.js';
import type { DocumentText } from '../../src/worker/text/document-text.js';
import { ModelHost, type TextModel } from '../../src/worker/model/model-host.js';
import { combinedText, planCombine, planSummary } from '../../src/worker/tasks/summarize/summarize.js';
import { TEST_MODEL } from '../helpers/paths.js';

/** Ten pages of numbered clauses: about 30,000 characters, far more than a 1024-token context. */
const PAGES = Array.from({ length: 10 }, (_, p) =>
  Array.from(
    { length: 12 },
    (_, i) =>
      `${p + 1}.${i + 1} The supplier shall deliver ${i + 3} boxes of apples to the buyer on day ${p * 12 + i}.`,
  ).join('\n\n'),
);
const DOC: DocumentText = (() => {
  const pageStarts: number[] = [];
  let text = '';
  for (const page of PAGES) {
    pageStarts.push(text.length);
    text += `${page}\n\n`;
  }
  return { text, pageStarts };
})();

describe('planning a summary flow with the real tokenizer', () => {
  let host: ModelHost | undefined;
  let env: TextModel;
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'docfleet-plan-'));

  beforeAll(async () => {
    host = await ModelHost.load({
      modelPath: TEST_MODEL,
      device: 'cpu',
      role: 'generate',
      sequences: 1,
      threads: 1,
      contextSize: 1024,
      gpuLayers: 0,
      tuneCacheDir: cacheDir,
    });
    env = host.textModel;
  });

  afterAll(async () => {
    await host?.dispose();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('needs no flow for a document that fits, nor when map-reduce is off', () => {
    expect(planSummary(env, { text: PAGES[0]!.slice(0, 500), pageStarts: [0] }, { maxTokens: 64 })).toBeUndefined();
    expect(planSummary(env, DOC, { maxTokens: 64, mapReduce: false })).toBeUndefined();
  });

  it('splits a long document into chunks that fit a part prompt and cover it in order', () => {
    const plan = planSummary(env, DOC, { maxTokens: 64 })!;
    expect(plan.chunks.length).toBeGreaterThan(5);
    expect(plan.partTokens).toBeLessThanOrEqual(64);
    let reach = 0;
    for (const chunk of plan.chunks) {
      expect(DOC.text.slice(chunk.start, chunk.end)).toBe(chunk.text);
      expect(env.model.tokenize(chunk.text).length + plan.partTokens).toBeLessThan(env.contextSize);
      expect(chunk.start).toBeLessThanOrEqual(reach + 1);
      reach = Math.max(reach, chunk.end);
    }
    expect(DOC.text.slice(reach).trim()).toBe('');
    expect(plan.chunks[0]!.pageStart).toBe(1);
    expect(plan.chunks.at(-1)!.pageEnd).toBe(10);
  });

  it('takes the overlap between chunks from chunkOverlapTokens, and refuses one as large as a chunk', () => {
    const none = planSummary(env, DOC, { maxTokens: 64, chunkOverlapTokens: 0 })!;
    for (let i = 1; i < none.chunks.length; i++)
      expect(none.chunks[i]!.start).toBeGreaterThanOrEqual(none.chunks[i - 1]!.end);
    const wide = planSummary(env, DOC, { maxTokens: 64, chunkOverlapTokens: 100 })!;
    expect(wide.chunks.slice(1).some((c, i) => c.start < wide.chunks[i]!.end)).toBe(true);
    expect(() => planSummary(env, DOC, { maxTokens: 64, chunkOverlapTokens: 5_000 })).toThrow(
      /chunkOverlapTokens must be/,
    );
  });

  it('combines in one step when the summaries fit, in groups of at least three when they do not', () => {
    const summary = (i: number, words: number) => ({
      summary: Array.from({ length: words }, (_, w) => `word${(i + w) % 50}`).join(' '),
      sources: [
        { chunk: i, start: i * 10, end: i * 10 + 10, pageStart: i + 1, pageEnd: i + 1 },
      ] satisfies SummarySource[],
      truncated: false,
    });
    expect(planCombine(env, [summary(0, 20), summary(1, 20)], { maxTokens: 64 })).toEqual({ final: true });

    const many = Array.from({ length: 60 }, (_, i) => summary(i, 40));
    const next = planCombine(env, many, { maxTokens: 64 });
    if (next.final) throw new Error('60 long summaries cannot fit one 1024-token context');
    expect(next.groups.flat()).toEqual(many);
    for (const group of next.groups.slice(0, -1)) expect(group.length).toBeGreaterThanOrEqual(3);
    for (const group of next.groups)
      expect(env.model.tokenize(combinedText(group)).length + next.partTokens).toBeLessThan(env.contextSize);
  });

  it('plans combining groups that fit their prompt even when every summary uses its whole output bound', () => {
    const plan = planSummary(env, DOC, { maxTokens: 64 })!;
    // Summaries of exactly partTokens tokens, under the widest pages headings the corpus can give.
    const words: string[] = [];
    while (env.model.tokenize(words.join(' ')).length < plan.partTokens) words.push(`word${words.length % 37}`);
    const full = (i: number) => ({
      summary: words.join(' '),
      sources: [{ chunk: i, start: 0, end: 1, pageStart: 99990 + i, pageEnd: 99999 }] satisfies SummarySource[],
      truncated: false,
    });
    expect(plan.fits.combine).toBeGreaterThanOrEqual(2);
    const group = Array.from({ length: plan.fits.combine }, (_, i) => full(i));
    expect(env.model.tokenize(combinedText(group)).length + plan.partTokens).toBeLessThan(env.contextSize);
    const last = Array.from({ length: plan.fits.final }, (_, i) => full(i));
    expect(planCombine(env, last, { maxTokens: 64 })).toEqual({ final: true });
  });
});
