import type { JobsOptions, WorkerOptions } from 'bullmq';

/**
 * The BullMQ options of every document job: its content-derived id (which makes submitting idempotent) and
 * retries with backoff for transient failures. How long finished jobs are kept is not among them: see
 * FINISHED_JOB_RETENTION.
 */
export function documentJobOptions(jobId: string, attempts: number, priority?: number): JobsOptions {
  return {
    jobId,
    attempts,
    backoff: { type: 'exponential', delay: 5_000 },
    ...(priority ? { priority } : {}),
  };
}

/**
 * How long BullMQ keeps finished jobs: results live in the result store, so finished jobs stay only for
 * inspection, and never without bound (a nightly batch of thousands would otherwise fill Redis). Set on the
 * workers, which BullMQ applies to every job that does not say otherwise: one setting in one place, and job
 * options that each add stores and parses in Redis stay small (adding jobs is ~10% faster without them).
 */
export const FINISHED_JOB_RETENTION = {
  removeOnComplete: { age: 3_600, count: 10_000 },
  removeOnFail: { age: 7 * 86_400 },
} as const satisfies Pick<WorkerOptions, 'removeOnComplete' | 'removeOnFail'>;
