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
  // Redis refused to store the outcome (out of memory, unreachable); the job is retried once it accepts writes
  | 'redis-unavailable'
  // this worker gave the job up: its lock may be another worker's now, or the worker is shutting down
  | 'lock-lost'
  | 'shutdown'
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

/** How the CLI ends, documented in docs/operations.md; every error that ends it maps to one of these. */
export const ExitCode = {
  ok: 0,
  /** The work failed (a batch with failures, an unexpected error). */
  failed: 1,
  /** Usage or configuration the user must change. */
  usage: 2,
  /** Redis cannot be reached. */
  unavailable: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * An error the user can act on: the CLI prints its message as one line (the stack only at LOG_LEVEL=debug) and exits
 * with its code. The message says what to change. A kind of error with another code overrides `exitCode`
 * (e.g. `override readonly exitCode = ExitCode.unavailable`).
 */
export class UserError extends Error {
  override name = 'UserError';
  readonly exitCode: ExitCode = ExitCode.usage;
}

/** Configuration or usage that cannot work; the message says which setting and what to do. */
export class ConfigError extends UserError {
  override name = 'ConfigError';
}

/** Redis could not be reached (or refused us) within the time allowed. */
export class RedisUnavailableError extends UserError {
  override name = 'RedisUnavailableError';
  override readonly exitCode = ExitCode.unavailable;
}

export function categoryOf(err: unknown): FailureCategory {
  if (err instanceof PermanentError || err instanceof TransientError) return err.category;
  if (isRedisOutOfMemory(err)) return 'redis-unavailable';
  return 'internal';
}

/**
 * Redis at its `maxmemory` with `noeviction` refuses writes: `OOM command not allowed…`, or `EXECABORT` for a
 * transaction with such a command in it.
 */
export function isRedisOutOfMemory(err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  if (message.startsWith('OOM ') || message.includes('OOM command not allowed') || message.startsWith('EXECABORT'))
    return true;
  // A pipeline's or transaction's error carries the replies that failed it.
  const previous = (err as { previousErrors?: unknown[] } | undefined)?.previousErrors;
  return Array.isArray(previous) && previous.some(isRedisOutOfMemory);
}

export function isPermanent(err: unknown): boolean {
  return err instanceof PermanentError;
}

/** Whatever was thrown, as an Error for the callbacks and logs that expect one. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
