import { UnrecoverableError } from 'bullmq';

/**
 * Why a document could not be processed. Permanent categories fail the job at once;
 * transient ones are retried with backoff until the job's attempts run out.
 */
export type FailureCategory =
  // permanent: retrying cannot help
  | 'not-found'
  | 'unsupported-type'
  | 'encrypted'
  | 'no-text'
  | 'too-large'
  | 'too-many-pages'
  | 'parse-timeout'
  | 'parse-memory'
  | 'malformed'
  | 'bad-params'
  // a document the worker may not read or fetch (outside its roots or URL prefixes, a private address)
  | 'forbidden'
  // transient: the next attempt may succeed
  | 'fetch-failed'
  | 'inference-failed'
  | 'stalled'
  | 'internal';

/**
 * A failure that no retry can fix (the document itself is the problem).
 * Extends BullMQ's UnrecoverableError so the job fails at once instead of burning attempts.
 */
export class PermanentError extends UnrecoverableError {
  constructor(
    readonly category: FailureCategory,
    message: string,
  ) {
    super(message);
    // BullMQ recognises unrecoverable errors by name across process boundaries.
    this.name = 'UnrecoverableError';
  }
}

/** A failure worth retrying (network, a busy model, a lost worker). */
export class TransientError extends Error {
  constructor(
    readonly category: FailureCategory,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/** Configuration or usage that cannot work; the message says which setting and what to do. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function categoryOf(err: unknown): FailureCategory {
  if (err instanceof PermanentError || err instanceof TransientError) return err.category;
  return 'internal';
}

export function isPermanent(err: unknown): boolean {
  return err instanceof PermanentError;
}
