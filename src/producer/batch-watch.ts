import { setTimeout as sleep } from 'node:timers/promises';
import { batchStatus, type BatchStatus } from './batch-control.js';
import type { Producer } from './producer.js';

/** A batch's status as `status --watch` sees it at one poll, with how fast it moves. */
export type BatchProgress = BatchStatus & {
  /** Lines that have an outcome (completed, failed or cancelled). */
  finished: number;
  /** Lines finished per second over the last `rateWindowMs`; 0 until two polls have seen some finish. */
  perSecond: number;
  /** Seconds until every pending line is finished at that rate; absent while the rate is unknown. */
  etaSeconds?: number;
};

export interface WatchOptions {
  /** Time between two reads of the batch's counters, ms. @defaultValue 1000 */
  intervalMs?: number;
  /** How far back the rate looks, ms: long enough to smooth it, short enough to follow a fleet that grows. @defaultValue 30000 */
  rateWindowMs?: number;
}

interface Sample {
  at: number;
  finished: number;
}

/**
 * The batch's progress once per interval until it is done (the last one yielded has `done`). Each poll is one
 * read of the batch's counters, whatever its size.
 */
export async function* watchBatch(p: Producer, id: string, opts: WatchOptions = {}): AsyncGenerator<BatchProgress> {
  const intervalMs = opts.intervalMs ?? 1000;
  const rateWindowMs = opts.rateWindowMs ?? 30_000;
  const samples: Sample[] = [];
  for (;;) {
    const status = await batchStatus(p, id);
    const finished = status.completed + status.failed + status.cancelled;
    const now = Date.now();
    samples.push({ at: now, finished });
    // Keep the newest sample older than the window as the rate's starting point.
    while (samples.length > 2 && samples[1]!.at <= now - rateWindowMs) samples.shift();
    const first = samples[0]!;
    const seconds = (now - first.at) / 1000;
    const perSecond = seconds > 0 ? (finished - first.finished) / seconds : 0;
    const pending = Math.max(0, status.pending);
    yield {
      ...status,
      finished,
      perSecond: Math.round(perSecond * 100) / 100,
      ...(perSecond > 0 ? { etaSeconds: Math.round(pending / perSecond) } : {}),
    };
    if (status.done) return;
    await sleep(intervalMs);
  }
}
