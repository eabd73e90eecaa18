import { Redis } from 'ioredis';
import { batchResults, batchStatus, cancelBatch, recentBatches } from '../../dist/producer/batch-control.js';
import { Producer } from '../../dist/producer/producer.js';
import { loadProducerConfig } from '../../dist/shared/config.js';
import { jobIdFor } from '../../dist/shared/job-id.js';
import type { DocumentRef, JobData, JobResult } from '../../dist/shared/job-types.js';
import { log, markdownTable, median, round, table } from './common.js';

/**
 * `npm run bench -- load`: the producer's and the batch commands' own cost at scale, with no worker. A large
 * batch is submitted as references (the walk and hashing of files are not part of it), then read by `status`,
 * listed, and cancelled; a second batch is made finished by writing its results into the store as workers
 * would, and streamed by `results`. Times and the process's peak memory per step; Redis bytes per queued job.
 */
export const LOAD = {
  /** Documents of the queued batch (submit, status, cancel). */
  queued: 100_000,
  /** Documents of the finished batch (results). */
  finished: 20_000,
  /** Small batches submitted before the listing, so that it picks the newest of many. */
  smallBatches: 200,
  listLimit: 20,
} as const;

const RESULT: JobResult = {
  task: 'summarize',
  model: 'bench',
  tokensIn: 300,
  tokensOut: 60,
  pages: 1,
  chars: 300,
  timings: { fetchMs: 0, parseMs: 1, inferMs: 500, totalMs: 501 },
  output: {
    summary: 'Lily and Tom found a ball in the park, gave it back to its owner and were thanked with a kite.',
    truncated: false,
    coveredChars: 300,
    sources: [{ chunk: 0, start: 0, end: 300, pageStart: 1, pageEnd: 1 }],
    parts: 0,
    levels: 0,
  },
};

/** References made as they are consumed, so the process's memory is the producer's, not the input's. */
function* refs(from: number, count: number): Generator<DocumentRef> {
  for (let i = from; i < from + count; i++) {
    const n = String(i).padStart(7, '0');
    yield {
      uri: `/data/contracts/2026/contract-${n}.txt`,
      name: `contracts/2026/contract-${n}.txt`,
      sha256: i.toString(16).padStart(64, '0'),
      bytes: 300,
    };
  }
}

/** Runs `fn` while sampling this process's memory: the step's time and its peak heap and RSS. */
async function step<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; peakHeapMb: number; peakRssMb: number }> {
  let heap = 0;
  let rss = 0;
  const sample = () => {
    const m = process.memoryUsage();
    heap = Math.max(heap, m.heapUsed);
    rss = Math.max(rss, m.rss);
  };
  sample();
  const timer = setInterval(sample, 20);
  const t0 = performance.now();
  try {
    const value = await fn();
    const ms = performance.now() - t0;
    sample();
    return { value, ms: round(ms, 1), peakHeapMb: round(heap / 2 ** 20), peakRssMb: round(rss / 2 ** 20) };
  } finally {
    clearInterval(timer);
  }
}

export async function load(redisUrl: string) {
  const admin = new Redis(redisUrl);
  const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))![1]);
  const producer = new Producer(loadProducerConfig({ REDIS_URL: redisUrl, DOCFLEET_PREFIX: 'load' }));
  try {
    // The finished batch and the small ones come first: in a queue, a batch's jobs sit behind those queued
    // before it, and the cancelled batch is the latest, as a batch cancelled soon after its submission is.
    log(`the finished batch: ${LOAD.finished} documents submitted, their results written`);
    const finished = (
      await producer.submitDocuments(refs(2_000_000, LOAD.finished), { tasks: ['summarize'], name: 'load-finished' })
    ).batch;
    const page: Promise<unknown>[] = [];
    for (const doc of refs(2_000_000, LOAD.finished)) {
      const data: JobData = { batchId: finished, doc, task: 'summarize', params: {} };
      page.push(producer.store.saveCompleted(jobIdFor(doc.sha256, 'summarize', {}), data, RESULT));
      if (page.length === 500) await Promise.all(page.splice(0));
    }
    await Promise.all(page);
    // Finished jobs are out of the wait list (BullMQ keeps them as completed): results were written by hand, so
    // the jobs are taken out here.
    await producer.queue('docfleet-generate-any').drain();

    log(`${LOAD.smallBatches} small batches`);
    for (let i = 0; i < LOAD.smallBatches; i++)
      await producer.submitDocuments(refs(1_000_000 + i * 5, 5), { tasks: ['summarize'], name: `small-${i}` });

    const before = await usedMemory();
    log(`submitting ${LOAD.queued} documents`);
    const submit = await step(() =>
      producer.submitDocuments(refs(0, LOAD.queued), { tasks: ['summarize'], name: 'load-queued' }),
    );
    const bytesPerJob = ((await usedMemory()) - before) / LOAD.queued;
    const queued = submit.value.batch;
    const sampleId = jobIdFor('0'.padStart(64, '0'), 'summarize', {});
    const usage = async (key: string) => Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    const breakdown = {
      bullmqJobHash: await usage(`load:docfleet-generate-any:${sampleId}`),
      jobRegistration: await usage(producer.store.keys.jobBatches(sampleId)),
      documentListPerDocument: round((await usage(producer.store.keys.batchDocuments(queued))) / LOAD.queued),
    };

    log('status of the queued batch');
    const statusRuns = [];
    for (let i = 0; i < 5; i++) statusRuns.push(await step(() => batchStatus(producer, queued)));

    log('the listing');
    const listRuns = [];
    for (let i = 0; i < 5; i++) listRuns.push(await step(() => recentBatches(producer, LOAD.listLimit)));

    const finishedStatus = await step(() => batchStatus(producer, finished));
    log('results of the finished batch');
    const results = await step(async () => {
      let lines = 0;
      let bytes = 0;
      for await (const line of batchResults(producer, finished)) {
        lines++;
        bytes += JSON.stringify(line).length + 1;
      }
      return { lines, bytes };
    });

    log('cancel of the queued batch');
    const cancel = await step(() => cancelBatch(producer, queued));
    const afterCancel = await batchStatus(producer, queued);

    const json = {
      load: LOAD,
      submit: {
        documents: LOAD.queued,
        ms: submit.ms,
        perSecond: Math.round(LOAD.queued / (submit.ms / 1000)),
        peakHeapMb: submit.peakHeapMb,
        peakRssMb: submit.peakRssMb,
        redisBytesPerQueuedJob: Math.round(bytesPerJob),
        redisBytesBreakdown: breakdown,
      },
      status: {
        documents: LOAD.queued,
        medianMs: round(median(statusRuns.map((r) => r.ms)), 2),
        maxMs: Math.max(...statusRuns.map((r) => r.ms)),
        finishedBatchMs: finishedStatus.ms,
      },
      batches: {
        listed: LOAD.listLimit,
        of: LOAD.smallBatches + 2,
        medianMs: round(median(listRuns.map((r) => r.ms)), 2),
      },
      results: {
        documents: LOAD.finished,
        lines: results.value.lines,
        megabytes: round(results.value.bytes / 2 ** 20),
        ms: results.ms,
        linesPerSecond: Math.round(results.value.lines / (results.ms / 1000)),
        peakHeapMb: results.peakHeapMb,
        peakRssMb: results.peakRssMb,
      },
      cancel: {
        documents: LOAD.queued,
        cancelled: cancel.value.cancelled,
        ms: cancel.ms,
        perSecond: Math.round(cancel.value.cancelled / (cancel.ms / 1000)),
        peakHeapMb: cancel.peakHeapMb,
        peakRssMb: cancel.peakRssMb,
        statusAfter: afterCancel,
      },
    };
    const rows: (string | number | null)[][] = [
      [
        `submit ${LOAD.queued} documents`,
        submit.ms,
        `${json.submit.perSecond} docs/s`,
        submit.peakHeapMb,
        submit.peakRssMb,
      ],
      [`status of ${LOAD.queued} (median of 5)`, json.status.medianMs, '', null, null],
      [`batches --limit ${LOAD.listLimit} (of ${json.batches.of})`, json.batches.medianMs, '', null, null],
      [
        `results of ${LOAD.finished} finished`,
        results.ms,
        `${json.results.linesPerSecond} lines/s`,
        results.peakHeapMb,
        results.peakRssMb,
      ],
      [
        `cancel ${LOAD.queued} queued`,
        cancel.ms,
        `${json.cancel.perSecond} jobs/s`,
        cancel.peakHeapMb,
        cancel.peakRssMb,
      ],
    ];
    const header = ['step', 'ms', 'rate', 'peak heap MiB', 'peak RSS MiB'];
    const text =
      `Load (no worker, one Redis): ${json.submit.redisBytesPerQueuedJob} Redis bytes per queued job ` +
      `(BullMQ job hash ${breakdown.bullmqJobHash}, registration ${breakdown.jobRegistration}, ` +
      `document record ${breakdown.documentListPerDocument})\n${table(header, rows)}\n\n${markdownTable(header, rows)}`;
    return { text, json };
  } finally {
    await producer.close();
    admin.disconnect();
  }
}
