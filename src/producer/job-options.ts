import type { JobsOptions } from 'bullmq';

/**
 * The BullMQ options of every document job: its content-derived id (which makes submitting
 * idempotent), retries with backoff for transient failures, and how long BullMQ keeps finished jobs.
 */
export function documentJobOptions(jobId: string, attempts: number, priority?: number): JobsOptions {
  return {
    jobId,
    attempts,
    backoff: { type: 'exponential', delay: 5_000 },
    // Results live in the result store; BullMQ keeps finished jobs only for inspection.
    removeOnComplete: { age: 3_600, count: 10_000 },
    removeOnFail: { age: 7 * 86_400 },
    ...(priority ? { priority } : {}),
  };
}
