import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FlowProducer, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../../src/shared/errors.js';
import type { JobData } from '../../src/shared/job-types.js';
import { ResultStore } from '../../src/shared/result-store.js';
import type { DocumentText } from '../../src/worker/text/document-text.js';
import { createProcessor } from '../../src/worker/queue/job-processor.js';
import { ModelHost } from '../../src/worker/model/model-host.js';
import { summarizeTask } from '../../src/worker/tasks/summarize/summarize-task.js';
import type { Task } from '../../src/worker/tasks/task.js';
import { TASK_REGISTRY } from '../../src/worker/tasks/task-registry.js';
import { TaskRunner } from '../../src/worker/tasks/task-runner.js';
import { WorkerMetrics } from '../../src/worker/worker-metrics.js';
import { waitFor } from '../helpers/fleet.js';
import { TEST_MODEL } from '../helpers/paths.js';
import { freshPrefix, startRedis, type TestRedis } from '../helpers/redis.js';

/** Six pages of clauses: several 512-token chunks. */
const DOC: DocumentText = (() => {
  const pageStarts: number[] = [];
  let text = '';
  for (let p = 0; p < 6; p++) {
    pageStarts.push(text.length);
    text +=
      Array.from(
        { length: 8 },
        (_, i) => `${p + 1}.${i + 1} The buyer pays ${i + 2} coins for each box delivered on day ${p * 8 + i}.`,
      ).join('\n\n') + '\n\n';
  }
  return { text, pageStarts };
})();

/**
 * The processor as a worker runs it, in this process, on a real Redis and the real model — with a model host
 * whose summarize task can be made to fail for chosen parts, to see what a failing child does to its document.
 */
describe('failures inside a summary flow', () => {
  let redis: TestRedis;
  let connection: Redis;
  let host: ModelHost;
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'docfleet-flowfail-'));

  beforeAll(async () => {
    redis = await startRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    host = await ModelHost.load({
      modelPath: TEST_MODEL,
      device: 'cpu',
      role: 'generate',
      sequences: 2,
      threads: 1,
      contextSize: 512,
      gpuLayers: 0,
      tuneCacheDir: cacheDir,
    });
  });

  /* eslint-disable @typescript-eslint/no-unnecessary-condition -- a hook above may have failed before setting all of these; what was started is still stopped */
  afterAll(async () => {
    await host?.dispose();
    connection?.disconnect();
    await redis?.stop();
    rmSync(cacheDir, { recursive: true, force: true });
  });
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */

  async function runDocument(failPart: (index: number, call: number) => Error | undefined, doc = DOC) {
    const prefix = freshPrefix('flowfail');
    const store = new ResultStore(connection, prefix, 3600);
    const flows = new FlowProducer({ connection, prefix });
    const calls = new Map<number, number>();
    let loads = 0;
    const failing: Task<'summarize'> = {
      ...summarizeTask,
      run: async (input) => {
        const index = input.data.part?.level === 0 ? input.data.part.index : -1;
        const call = (calls.get(index) ?? 0) + 1;
        calls.set(index, call);
        const err = failPart(index, call);
        if (err) throw err;
        return summarizeTask.run(input);
      },
    };
    const processor = createProcessor({
      runner: new TaskRunner(host, { ...TASK_REGISTRY, summarize: failing }),
      store,
      metrics: new WorkerMetrics(),
      log: pino({ level: 'silent' }),
      load: () => {
        loads++;
        const pages = doc.pageStarts.length;
        return Promise.resolve({ doc, pages, bytes: doc.text.length, fetchMs: 0, parseMs: 0 });
      },
      flows,
    });
    const queue = new Queue('docfleet-generate-any', { connection, prefix });
    const worker = new Worker('docfleet-generate-any', processor, { connection, prefix, concurrency: 2 });
    const data: JobData = {
      batchId: 'b',
      doc: { uri: '/x.pdf', name: 'x.pdf', sha256: '0', bytes: 1 },
      task: 'summarize',
      params: { maxTokens: 48 },
    };
    await store.batches.create({
      id: 'b',
      createdAt: Date.now(),
      tasks: ['summarize'],
      tag: 'any',
      params: data.params,
      inputs: { first: ['/x.pdf'], count: 1 },
      documents: 1,
      jobs: 1,
      duplicates: 0,
      refused: 0,
      cancelled: false,
      submitting: false,
    });
    await queue.add('summarize', data, { jobId: 'doc1', attempts: 3, backoff: { type: 'fixed', delay: 50 } });
    try {
      await waitFor(async () => (await store.statuses(['doc1']))[0] !== undefined, 120_000, 'the document to finish');
      const [stored] = await store.get(['doc1']);
      return { stored: stored!, calls, loads };
    } finally {
      await worker.close();
      await queue.close();
      await flows.close();
    }
  }

  it('retries a failed part on its own; the document is read once and completes', async () => {
    const { stored, calls, loads } = await runDocument((index, call) =>
      index === 1 && call === 1 ? new TransientError('inference-failed', 'model hiccup') : undefined,
    );
    expect(stored.status).toBe('completed');
    expect(loads).toBe(1);
    expect(calls.get(1)).toBe(2);
    if (stored.result?.task !== 'summarize') throw new Error('expected a summary');
    const parts = stored.result.output.parts;
    expect(parts).toBeGreaterThan(2);
    for (let i = 0; i < parts; i++) if (i !== 1) expect(calls.get(i)).toBe(1);
  }, 180_000);

  it('fails the document with the reason of a part that fails for good', async () => {
    const { stored, calls, loads } = await runDocument((index) =>
      index === 2 ? new PermanentError('bad-params', 'this part cannot be summarised') : undefined,
    );
    expect(stored.status).toBe('failed');
    expect(stored.error!.message).toMatch(/part 2 .*failed.*this part cannot be summarised/);
    expect(calls.get(2)).toBe(1);
    expect(loads).toBe(1);
  }, 180_000);

  it('hands the reason of a part that fails for good up through the combining parts above it', async () => {
    // Five times the pages: more part summaries than one final prompt takes, so they are combined in a tree.
    const long: DocumentText = {
      text: DOC.text.repeat(5),
      pageStarts: Array.from({ length: 5 }, (_, r) => DOC.pageStarts.map((p) => p + r * DOC.text.length)).flat(),
    };
    const { stored, calls } = await runDocument(
      (index) => (index === 7 ? new PermanentError('bad-params', 'this part cannot be summarised') : undefined),
      long,
    );
    expect(stored.status).toBe('failed');
    expect(stored.error!.message).toMatch(
      /^part 7 of the summary flow failed after its attempts: .*cannot be summarised$/,
    );
    expect(calls.get(7)).toBe(1);
    // The other combining parts ran (the final step never did): there was a tree.
    expect(calls.get(-1)).toBeGreaterThanOrEqual(1);
  }, 180_000);
});
