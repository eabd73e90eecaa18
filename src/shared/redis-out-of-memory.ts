import type { Redis } from 'ioredis';
import { ExitCode, UserError } from './errors.js';

/**
 * Redis refused a write because it reached `maxmemory` (policy `noeviction`). Exit code 3, as for a Redis that
 * cannot be reached: the request was fine and the same command succeeds once Redis has room again, so scripts
 * should retry later rather than change their arguments (2).
 */
export class RedisOutOfMemoryError extends UserError {
  override name = 'RedisOutOfMemoryError';
  override readonly exitCode = ExitCode.unavailable;

  constructor(what: string, options?: { cause?: unknown }) {
    super(
      `Redis is out of memory (maxmemory reached): ${what}; free memory or raise maxmemory, then try again`,
      options,
    );
  }
}

/**
 * Whether Redis is at its memory limit now (no limit set: never). A Redis that does not answer INFO (an ACL
 * without it) is not asked: a full one then refuses the first write, and the submission is rolled back.
 */
export async function atMemoryLimit(redis: Redis): Promise<boolean> {
  const info = await redis.info('memory').catch(() => '');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  const max = field('maxmemory');
  return max > 0 && field('used_memory') >= max;
}
