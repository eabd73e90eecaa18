import path from 'node:path';
import { TARGETS, type Context } from './bench-context.js';
import { log, markdownTable, median, round, runChild, WORKLOAD, writeDocuments } from './common.js';
import type { EnqueueInput, EnqueueRun, ProcessInput, ProcessRun, ProcessVariant } from './scenarios/queue.js';

const JOBS = 5_000;
const ENQUEUE_ROUNDS = 8;
const PROCESS_ROUNDS = 7;
const CONCURRENCIES = [WORKLOAD.sequences, 16];

/**
 * Queue overhead (`npm run bench -- queue`, and part of `throughput`): no-op jobs through docfleet's producer
 * and worker paths against plain BullMQ, both with BullMQ's defaults and with the job options docfleet sets,
 * so that what BullMQ's options cost shows apart from what docfleet's own layer costs.
 *
 * These runs are short and Redis-bound, and this machine's speed drifts from one second to the next, so every
 * round measures all the paths back to back and the verdicts use the median over rounds of each round's own
 * ratio (paired, so a slow spell hits both sides of a ratio alike); the tables give the median rates.
 */
export async function queueOverhead(ctx: Context) {
  const docsDir = path.join(ctx.tmp, 'queue-docs');
  await writeDocuments(docsDir, JOBS, 100_000, 2);

  log(
    `queue overhead: enqueueing ${JOBS} no-op jobs, ${ENQUEUE_ROUNDS} rounds of plain BullMQ, with docfleet's job options, docfleet`,
  );
  const enqueueInput: EnqueueInput = { redisUrl: ctx.redisUrl, docsDir, jobs: JOBS, rounds: ENQUEUE_ROUNDS };
  const enq = await ctx.measure('queue enqueue', () => runChild<EnqueueRun>('queue-enqueue', enqueueInput));
  await ctx.flush();
  const rate = (ms: number) => round((JOBS * 1000) / ms);
  const enqueueRate = (k: keyof EnqueueRun['rounds'][number]) => round(median(enq.rounds.map((r) => rate(r[k]))));
  const enqueueRatio = (k: keyof EnqueueRun['rounds'][number], base: keyof EnqueueRun['rounds'][number]) =>
    round(median(enq.rounds.map((r) => r[base] / r[k])), 3);
  const enqueue = {
    jobsPerSecond: {
      raw: enqueueRate('raw'),
      rawOptions: enqueueRate('rawOptions'),
      docfleetRefs: enqueueRate('docfleetRefs'),
      docfleetFiles: enqueueRate('docfleetFiles'),
      walk: rate(enq.walkMs),
    },
    ratio: {
      refs: enqueueRatio('docfleetRefs', 'raw'),
      refsVsSameOptions: enqueueRatio('docfleetRefs', 'rawOptions'),
      files: enqueueRatio('docfleetFiles', 'raw'),
      rawOptions: enqueueRatio('rawOptions', 'raw'),
    },
    rounds: enq.rounds,
  };

  const processRows = [];
  for (const concurrency of CONCURRENCIES) {
    const variants: ProcessVariant[] = ['raw', 'rawOptions', 'docfleet'];
    // Diagnostic: the same scheduler serving one queue instead of two.
    if (concurrency === WORKLOAD.sequences) variants.push('docfleetOneQueue');
    const rounds: Partial<Record<ProcessVariant, ProcessRun>>[] = [];
    for (let r = 1; r <= PROCESS_ROUNDS; r++) {
      log(
        `queue overhead ${r}/${PROCESS_ROUNDS}: processing ${JOBS} no-op jobs at concurrency ${concurrency}: ${variants.join(', ')}`,
      );
      const round: Partial<Record<ProcessVariant, ProcessRun>> = {};
      for (const variant of variants) {
        const input: ProcessInput = { redisUrl: ctx.redisUrl, prefix: ctx.prefix(), jobs: JOBS, concurrency, variant };
        round[variant] = await ctx.measure(`queue ${variant} c${concurrency} ${r}`, () =>
          runChild<ProcessRun>('queue-process', input),
        );
        await ctx.flush();
      }
      rounds.push(round);
    }
    const ms = (v: ProcessVariant) => rounds.map((r) => r[v]?.processMs).filter((x): x is number => x !== undefined);
    const paired = (v: ProcessVariant, base: ProcessVariant) =>
      ms(v).length ? round(median(rounds.map((r) => r[base]!.processMs / r[v]!.processMs)), 3) : null;
    const commands = (v: ProcessVariant) => rounds[0]![v]?.redisCommandsPerJob ?? null;
    processRows.push({
      concurrency,
      jobsPerSecond: Object.fromEntries(variants.map((v) => [v, round(median(ms(v).map(rate)))])) as Partial<
        Record<ProcessVariant, number>
      >,
      ratio: {
        docfleet: paired('docfleet', 'raw'),
        docfleetVsSameOptions: paired('docfleet', 'rawOptions'),
        docfleetOneQueue: paired('docfleetOneQueue', 'raw'),
      },
      redisCommandsPerJob: {
        raw: commands('raw'),
        rawOptions: commands('rawOptions'),
        docfleet: commands('docfleet'),
        docfleetOneQueue: commands('docfleetOneQueue'),
      },
      rounds,
    });
  }

  const met = (measured: number | null) => ({
    target: TARGETS.queueVsRaw,
    measured,
    met: (measured ?? 0) >= TARGETS.queueVsRaw,
  });
  const targets: Record<string, ReturnType<typeof met>> = {
    queueEnqueueVsRaw: met(enqueue.ratio.refs),
    queueEnqueueVsRawSameOptions: met(enqueue.ratio.refsVsSameOptions),
  };
  for (const q of processRows) targets[`queueProcessVsRawAtConcurrency${q.concurrency}`] = met(q.ratio.docfleet);
  const verdict = (m: { met: boolean }) => (m.met ? 'MET' : 'NOT MET');
  const e = enqueue.jobsPerSecond;
  const q0 = processRows.find((q) => q.concurrency === WORKLOAD.sequences)!;
  const text = [
    `### Queue overhead: enqueueing ${JOBS} no-op jobs (median of ${ENQUEUE_ROUNDS} rounds)`,
    '',
    markdownTable(
      ['path', 'jobs/s', 'vs raw addBulk (median of rounds)'],
      [
        ['raw Queue.addBulk, BullMQ defaults', e.raw, 1],
        ["raw Queue.addBulk, docfleet's job options (content ids, retries)", e.rawOptions, enqueue.ratio.rawOptions],
        ['docfleet Producer.submitDocuments (hashed references)', e.docfleetRefs, enqueue.ratio.refs],
        ['docfleet Producer.submit (walks, reads and hashes the files)', e.docfleetFiles, enqueue.ratio.files],
      ],
    ),
    '',
    `submitDocuments / raw addBulk with the same job options: ${enqueue.ratio.refsVsSameOptions}. Walking and hashing the ${JOBS} files alone (once, cold) runs at ${e.walk} documents/s, a bound on submit that addBulk does not have.`,
    '',
    `### Queue overhead: processing ${JOBS} no-op jobs (jobs/s, median of ${PROCESS_ROUNDS} rounds)`,
    '',
    markdownTable(
      [
        'concurrency',
        'raw Worker',
        'raw Worker, same job options and retention',
        'docfleet SlotScheduler',
        'vs raw',
        'vs same options',
        'Redis cmds/job raw : same options : docfleet',
      ],
      processRows.map((q) => [
        q.concurrency,
        q.jobsPerSecond.raw ?? null,
        q.jobsPerSecond.rawOptions ?? null,
        q.jobsPerSecond.docfleet ?? null,
        q.ratio.docfleet,
        q.ratio.docfleetVsSameOptions,
        `${q.redisCommandsPerJob.raw} : ${q.redisCommandsPerJob.rawOptions} : ${q.redisCommandsPerJob.docfleet}`,
      ]),
    ),
    '',
    "Ratios are medians over rounds of each round's own ratio (the paths of a round run back to back). Every processing run first puts 1,000 jobs through the same path untimed, and enqueueing runs one untimed round, so V8 has compiled the code. Redis commands include those run inside BullMQ's Lua scripts.",
    `Diagnostic, concurrency ${WORKLOAD.sequences}: the SlotScheduler serving one queue instead of its two (tag + any): ${q0.jobsPerSecond.docfleetOneQueue} jobs/s (ratio ${q0.ratio.docfleetOneQueue}), ${q0.redisCommandsPerJob.docfleetOneQueue} Redis commands/job.`,
    `queue overhead, target ≥ ${TARGETS.queueVsRaw} × raw BullMQ: enqueue ${enqueue.ratio.refs} ${verdict(targets.queueEnqueueVsRaw!)} ` +
      `(vs the same job options ${enqueue.ratio.refsVsSameOptions} ${verdict(targets.queueEnqueueVsRawSameOptions!)}), ` +
      processRows
        .map(
          (q) =>
            `process at concurrency ${q.concurrency} ${q.ratio.docfleet} ${verdict(targets[`queueProcessVsRawAtConcurrency${q.concurrency}`]!)}`,
        )
        .join(', '),
  ].join('\n');
  return { json: { enqueue, process: processRows }, targets, text };
}
