import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCpuBudget } from '../../src/shared/cpu-budget.js';
import { ConfigError, PermanentError } from '../../src/shared/errors.js';
import type { JobData, TaskName, TaskParams } from '../../src/shared/job-types.js';
import type { DocumentText } from '../../src/worker/text/document-text.js';
import { contextCount, ModelHost, type ModelHostOptions } from '../../src/worker/model/model-host.js';
import { TaskRunner } from '../../src/worker/tasks/task-runner.js';
import { evaluatedPrompt } from '../../src/worker/model/generation.js';
import { documentSummaryPrompt } from '../../src/worker/tasks/summarize/summarize.js';
import { CONTRACT_SCHEMA } from '../../src/worker/tasks/extract/contract-schema.js';
import { threadCandidates } from '../../src/worker/model/thread-tuner.js';
import { TEST_MODEL } from '../helpers/paths.js';

const job = <N extends TaskName>(task: N, params: TaskParams = {}): JobData & { task: N } => ({
  batchId: 'b1',
  doc: { uri: '/docs/x.pdf', name: 'x.pdf', sha256: '0'.repeat(64), bytes: 1 },
  task,
  params,
});
const onePage = (text: string): DocumentText => ({ text, pageStarts: [0] });

const SHORT =
  'Lily and her friend Tom found a big red ball in the park. They played with it all day and were very happy.';
const LONG = Array.from(
  { length: 150 },
  (_, i) =>
    `Section ${i + 1}. The supplier shall deliver ${i + 3} boxes of apples to the buyer every week. ` +
    `If a box is late, the buyer may ask for a refund! Both parties agree to meet on day ${i + 2} to talk about the garden.`,
).join('\n\n');

const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'docfleet-tune-'));
const options: ModelHostOptions = {
  modelPath: TEST_MODEL,
  device: 'cpu',
  role: 'auto',
  sequences: 4,
  threads: 'auto',
  contextSize: 'auto',
  gpuLayers: 'auto',
  tuneCacheDir: cacheDir,
};
const logs: Array<{ msg: string } & Record<string, unknown>> = [];
let host: ModelHost;
let runner: TaskRunner;

beforeAll(async () => {
  host = await ModelHost.load(options, (msg, fields) => logs.push({ msg, ...fields }));
  runner = new TaskRunner(host);
});

/* eslint-disable @typescript-eslint/no-unnecessary-condition -- a hook above may have failed before setting all of these; what was started is still stopped */
afterAll(async () => {
  await host?.dispose();
  rmSync(cacheDir, { recursive: true, force: true });
});
/* eslint-enable @typescript-eslint/no-unnecessary-condition */

describe('ModelHost with the tiny generative model on CPU', () => {
  it('loads with threads measured by the tuner, logs the figures and caches them', async () => {
    const budget = detectCpuBudget();
    expect(host).toMatchObject({
      role: 'generate',
      modelName: 'stories260K',
      device: 'cpu',
      sequences: 4,
      contextSize: 2048,
    });
    expect(host.tuning.source).toBe('measured');
    expect(host.tuning.trials.map((t) => t.threads)).toEqual(threadCandidates(budget.cpus));
    for (const t of host.tuning.trials) {
      expect(t.ms).toBeGreaterThan(0);
      // Each thread count is measured in the layout the worker would run at it: its contexts side by side.
      expect(t.contexts).toBe(contextCount({ device: 'cpu', sequences: 4 }, { threads: t.threads, budget }));
    }
    // Never the library default (4 on a 2-core machine): always within the CPU budget.
    expect(host.threads).toBeLessThanOrEqual(Math.max(1, Math.floor(budget.cpus)));
    expect(host.tuning.tuneMs).toBeLessThan(10_000);
    // The sequences are spread over as many contexts as the budget holds at the tuned threads.
    expect(host.contexts).toBe(contextCount({ device: 'cpu', sequences: 4 }, host.tuning));
    const loaded = logs.find((l) => l.msg === 'model loaded');
    expect(loaded).toMatchObject({
      threads: host.threads,
      contexts: host.contexts,
      threadSource: 'measured',
      threadTrials: host.tuning.trials,
    });
    expect(existsSync(path.join(cacheDir, 'threads.json'))).toBe(true);

    const again = await ModelHost.load(options);
    try {
      expect(again.tuning).toMatchObject({ source: 'cache', threads: host.threads, trials: host.tuning.trials });
      expect(again.tuning.tuneMs).toBeLessThan(200);
    } finally {
      await again.dispose();
    }
  });

  it('with --threads, still measures flash attention at those threads, and caches it', async () => {
    const fixed = await ModelHost.load({ ...options, threads: 1, sequences: 1 });
    try {
      expect(fixed.tuning).toMatchObject({ source: 'flag', threads: 1, trials: [] });
      // Left to the library default, flash attention makes this model's prompts ~4x slower on a CPU.
      for (const t of fixed.tuning.flashAttentionTrials) expect(t.ms).toBeGreaterThan(0);
      expect(fixed.tuning.flashAttentionTrials.map((t) => t.enabled).sort()).toEqual(
        fixed.tuning.flashAttentionTrials.length ? [false, true] : [],
      );
    } finally {
      await fixed.dispose();
    }
    const again = await ModelHost.load({ ...options, threads: 1, sequences: 1 });
    try {
      expect(again.tuning.tuneMs).toBeLessThan(200);
      expect(again.tuning.flashAttention).toBe(fixed.tuning.flashAttention);
    } finally {
      await again.dispose();
    }
  });

  it('splits its sequences over several contexts, which run side by side and answer alike', async () => {
    const split = await ModelHost.load({ ...options, sequences: 3, contexts: 2, contextSize: 512 });
    try {
      expect(split).toMatchObject({ sequences: 3, contexts: 2, contextSize: 512 });
      const splitTasks = new TaskRunner(split);
      const runs = await Promise.all(
        [0, 1, 2].map(() => splitTasks.run(job('summarize', { maxTokens: 24 }), onePage(SHORT))),
      );
      expect(splitTasks.freeSlots).toBe(3);
      // Greedy decoding: the same prompt gives the same summary whichever context runs it.
      for (const r of runs) expect(r.output).toEqual(runs[0]!.output);
    } finally {
      await split.dispose();
    }
  });

  it('summarizes what fits of a long document and says so', async () => {
    const run = await runner.run(job('summarize', { maxTokens: 48 }), onePage(LONG));
    const out = run.output;
    expect(out.truncated).toBe(true);
    expect(out.coveredChars).toBeGreaterThan(1000);
    expect(out.coveredChars).toBeLessThan(LONG.length);
    // Cut where a paragraph ends, not mid-word.
    expect(LONG.slice(out.coveredChars - 2, out.coveredChars)).toBe('\n\n');
    expect(out.summary.length).toBeGreaterThan(0);
    expect(run.tokensIn).toBeGreaterThan(500);
    expect(run.tokensIn + run.tokensOut).toBeLessThanOrEqual(host.contextSize);
    expect(run.tokensOut).toBeGreaterThan(0);
    expect(run.tokensOut).toBeLessThanOrEqual(48);
    expect(run.inferMs).toBeGreaterThan(0);
  });

  it('summarizes a short document whole, the same way every time', async () => {
    const a = await runner.run(job('summarize', { maxTokens: 32 }), onePage(SHORT));
    const b = await runner.run(job('summarize', { maxTokens: 32 }), onePage(SHORT));
    expect(a.output).toMatchObject({ truncated: false, coveredChars: SHORT.length });
    // Greedy decoding on a cleared sequence: the earlier job leaves no trace.
    expect(b.output).toEqual(a.output);
    expect(b.tokensIn).toBe(a.tokensIn);
  });

  it('evaluates exactly the prompt evaluatedPrompt renders, and times its first token', async () => {
    const run = await runner.run(job('summarize', { maxTokens: 32 }), onePage(SHORT));
    const { model, style } = host.textModel;
    // What a benchmark sends another engine is what the worker evaluated. node-llama-cpp's meter counts the
    // prompt's last token, whose logits give the first output token, as output.
    const prompt = evaluatedPrompt(model, style, documentSummaryPrompt(style.chat, SHORT));
    expect(run.tokensIn).toBe(prompt.length - 1);
    expect(run.firstTokenMs).toBeGreaterThanOrEqual(0);
    expect(run.firstTokenMs).toBeLessThanOrEqual(run.inferMs);
  });

  it('extracts contract fields that validate against the contract schema', async () => {
    const run = await runner.run(job('extract'), onePage(LONG));
    const out = run.output;
    const validate = new Ajv2020({ strict: false }).compile(CONTRACT_SCHEMA);
    expect(validate(out.fields), JSON.stringify(validate.errors)).toBe(true);
    expect(Object.keys(out.fields).sort()).toEqual(Object.keys(CONTRACT_SCHEMA.properties).sort());
    expect(out.truncated).toBe(true);
    expect(run.tokensOut).toBeGreaterThan(10);
  });

  it('extracts with a custom schema, and refuses one the grammar cannot enforce', async () => {
    const schema = {
      type: 'object',
      properties: {
        title: { type: 'string', maxLength: 30 },
        boxes: { type: 'integer' },
        late: { type: 'boolean' },
        names: { type: ['array', 'null'], items: { type: 'string', maxLength: 12 }, maxItems: 2 },
      },
      required: ['title', 'boxes', 'late', 'names'],
    };
    const run = await runner.run(job('extract', { schema, maxTokens: 256 }), onePage(SHORT));
    const out = run.output;
    expect(new Ajv2020({ strict: false }).validate(schema, out.fields)).toBe(true);
    expect(out).toMatchObject({ truncated: false, coveredChars: SHORT.length });

    const bad = { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Z]+$' } } };
    const err = await runner.run(job('extract', { schema: bad }), onePage(SHORT)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err).toMatchObject({ category: 'bad-params' });
    expect((err as PermanentError).message).toMatch(/properties\/id: "pattern" cannot be enforced/);
  });

  it('runs 4 tasks at once on 4 sequences, and refuses a 5th', async () => {
    const tasks = [
      runner.run(job('summarize', { maxTokens: 24 }), onePage(SHORT)),
      // quote: the model writes the JSON (choose finds no sentence to pick in a text this short).
      runner.run(job('extract', { method: 'quote' }), onePage(SHORT)),
      runner.run(job('summarize', { maxTokens: 24 }), onePage(LONG.slice(0, 3000))),
      runner.run(job('summarize', { maxTokens: 24 }), onePage(SHORT)),
    ];
    expect(runner.freeSlots).toBe(0);
    await expect(runner.run(job('summarize'), onePage(SHORT))).rejects.toThrow(/slots are busy/);
    const runs = await Promise.all(tasks);
    for (const r of runs) expect(r.tokensOut).toBeGreaterThan(0);
    expect(runs[0]!.output).toEqual(runs[3]!.output);
    expect(runner.freeSlots).toBe(4);
  });

  it('stops a job when its signal aborts, and the sequence serves the next job', async () => {
    const abort = new AbortController();
    const reason = new Error('cancelled by test');
    setTimeout(() => abort.abort(reason), 100);
    await expect(runner.run(job('summarize', { maxTokens: 1000 }), onePage(LONG), abort.signal)).rejects.toBe(reason);
    expect(runner.freeSlots).toBe(4);
    const after = await runner.run(job('summarize', { maxTokens: 32 }), onePage(SHORT));
    expect(after.output).toMatchObject({ truncated: false });
  });

  it('refuses tasks for the other role and bad parameters as permanent', async () => {
    await expect(runner.run(job('embed'), onePage(SHORT))).rejects.toMatchObject({ category: 'bad-params' });
    const tooLong = runner.run(job('summarize', { maxTokens: 5000 }), onePage(SHORT));
    await expect(tooLong).rejects.toMatchObject({ category: 'bad-params' });
    await expect(tooLong).rejects.toThrow(/maxTokens must be an integer from 1 to 1024/);
    // No JSON of the contract schema fits 20 tokens, so no attempt is made (quote: the model writes that JSON).
    const tooShort = runner.run(job('extract', { method: 'quote', maxTokens: 20 }), onePage(SHORT));
    await expect(tooShort).rejects.toMatchObject({ category: 'bad-params' });
    await expect(tooShort).rejects.toThrow(/maxTokens 20 is too small for the schema/);
  });
});

describe('ModelHost as an embedder', () => {
  const pageOfIn = (pageStarts: number[]) => (offset: number) => pageStarts.filter((s) => s <= offset).length;

  it('embeds token-sized chunks with exact ranges, page ranges and unit vectors, jobs sharing the contexts', async () => {
    const embedder = await ModelHost.load({ ...options, role: 'embed', sequences: 2 }, (msg, fields) =>
      logs.push({ msg, ...fields }),
    );
    try {
      expect(embedder).toMatchObject({ role: 'embed', sequences: 2 });
      const embeds = new TaskRunner(embedder);
      const loaded = logs.filter((l) => l.msg === 'model loaded').at(-1)!;
      // One context per core the budget holds at the tuned thread count, at most one per concurrent job.
      const contexts = Math.min(2, Math.max(1, Math.floor(embedder.tuning.budget.cpus / embedder.threads)));
      expect(embedder.contexts).toBe(contexts);
      expect(loaded).toMatchObject({ role: 'embed', contexts });

      const pages = ['First page. ' + SHORT, SHORT + '\n\n' + LONG.slice(0, 1500), 'Last page: ' + SHORT];
      const text = pages.join('\n\n');
      const pageStarts = pages.map((_, i) => pages.slice(0, i).join('\n\n').length + (i ? 2 : 0));
      const pageOf = pageOfIn(pageStarts);
      const doc = { text, pageStarts };
      // Two jobs at once (the worker's concurrency): their chunks share the pool's contexts.
      const [byChars, byTokens] = await Promise.all([
        embeds.run(job('embed', { chunkChars: 300 }), doc),
        embeds.run(job('embed', { chunkTokens: 64, chunkOverlapTokens: 8 }), doc),
      ]);
      const other = await embeds.run(job('embed'), onePage(SHORT));
      for (const [run, opts] of [
        [byChars, { maxChars: 300, overlap: false }],
        [byTokens, { maxChars: Infinity, overlap: true }],
      ] as const) {
        const out = run.output;
        expect(out.dimensions).toBe(64);
        expect(out.chunks.length).toBeGreaterThan(5);
        let prevStart = -1;
        let prevEnd = 0;
        for (const c of out.chunks) {
          const piece = text.slice(c.start, c.end);
          expect(piece.length).toBeLessThanOrEqual(opts.maxChars);
          expect(piece).toBe(piece.trim());
          expect(c.start).toBeGreaterThan(prevStart);
          // Between chunks only whitespace; with overlap a chunk may start inside the one before.
          if (!opts.overlap) expect(c.start).toBeGreaterThanOrEqual(prevEnd);
          if (c.start >= prevEnd) expect(text.slice(prevEnd, c.start).trim()).toBe('');
          prevStart = c.start;
          prevEnd = c.end;
          expect(c.pageStart).toBe(pageOf(c.start));
          expect(c.pageEnd).toBe(pageOf(c.end - 1));
          expect(c.page).toBe(c.pageStart);
          expect(c.vector).toBeInstanceOf(Float32Array);
          expect(c.vector.length).toBe(64);
          expect(Math.hypot(...c.vector)).toBeCloseTo(1, 4);
        }
        expect(text.slice(prevEnd).trim()).toBe('');
        expect(new Set(out.chunks.flatMap((c) => [c.pageStart, c.pageEnd]))).toEqual(new Set([1, 2, 3]));
        expect(run.tokensIn).toBeGreaterThan(0);
      }
      // Overlapping chunks: some chunk starts before the previous one ends.
      const tokenChunks = byTokens.output.chunks;
      expect(tokenChunks.some((c, i) => i > 0 && c.start < tokenChunks[i - 1]!.end)).toBe(true);
      expect(other.output.chunks).toHaveLength(1);

      // The same chunk embeds to the same vector whichever job, context or neighbour it had.
      const again = await embeds.run(job('embed', { chunkChars: 300 }), doc);
      const first = byChars.output.chunks;
      again.output.chunks.forEach((c, i) => {
        expect(c.start).toBe(first[i]!.start);
        for (let d = 0; d < 64; d++) expect(c.vector[d]).toBeCloseTo(first[i]!.vector[d]!, 5);
      });

      await expect(embeds.run(job('embed', { chunkTokens: 4 }), doc)).rejects.toMatchObject({
        category: 'bad-params',
      });
      await expect(embeds.run(job('embed', { chunkTokens: 64, chunkOverlapTokens: 64 }), doc)).rejects.toMatchObject({
        category: 'bad-params',
      });
      await expect(embeds.run(job('embed', { chunkChars: 10 }), doc)).rejects.toMatchObject({
        category: 'bad-params',
      });
      await expect(embeds.run(job('summarize'), onePage(SHORT))).rejects.toMatchObject({
        category: 'bad-params',
      });
    } finally {
      await embedder.dispose();
    }
  });

  it('sizes chunks by the model tokenizer within its input limit, and stops a job when its signal aborts', async () => {
    const embedder = await ModelHost.load({ ...options, role: 'embed', sequences: 2, contextSize: 128 });
    const embeds = new TaskRunner(embedder);
    try {
      const run = await embeds.run(job('embed'), onePage(LONG.slice(0, 6000)));
      const out = run.output;
      // The default 256 tokens do not fit a 128-token context: every chunk is one input of at most 127 tokens.
      expect(out.chunks.length).toBeGreaterThan(6000 / (127 * 4));
      expect(run.tokensIn).toBeLessThanOrEqual(out.chunks.length * 127);
      expect(run.tokensIn / out.chunks.length).toBeGreaterThan(127 / 2);

      const abort = new AbortController();
      const reason = new Error('cancelled by test');
      const pending = embeds.run(job('embed', { chunkTokens: 32 }), onePage(LONG), abort.signal);
      setTimeout(() => abort.abort(reason), 20);
      await expect(pending).rejects.toBe(reason);
      expect(embeds.freeSlots).toBe(2);
      const after = await embeds.run(job('embed'), onePage(SHORT));
      expect(after.output.chunks).toHaveLength(1);
    } finally {
      await embedder.dispose();
    }
  });
});

describe('ModelHost on a machine without a GPU', () => {
  it('refuses --device gpu clearly instead of falling back to the CPU', async () => {
    const err = await ModelHost.load({ ...options, device: 'gpu' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(
      /--device gpu: no usable GPU backend \(CUDA\/Vulkan\/Metal\).*--device cpu/s,
    );
  });
});
