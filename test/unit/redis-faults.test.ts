import { describe, expect, it } from 'vitest';
import { categoryOf, isRedisOutOfMemory } from '../../src/shared/errors.js';
import { settleWithin } from '../../src/shared/settle-within.js';

describe('Redis faults', () => {
  it('recognises a full Redis by its refusals, and files them as redis-unavailable', () => {
    const oom = new Error("OOM command not allowed when used memory > 'maxmemory'.");
    const inScript = new Error("ERR Error running script: OOM command not allowed when used memory > 'maxmemory'.");
    const exec = new Error('EXECABORT Transaction discarded because of previous errors.');
    for (const err of [oom, inScript, exec]) {
      expect(isRedisOutOfMemory(err)).toBe(true);
      expect(categoryOf(err)).toBe('redis-unavailable');
    }
    expect(isRedisOutOfMemory(new Error('ECONNREFUSED'))).toBe(false);
    expect(isRedisOutOfMemory('OOM')).toBe(false);
  });

  it('waits for a shutdown step a bounded time, whether it resolves, rejects or hangs', async () => {
    expect(await settleWithin(Promise.resolve(1), 1_000)).toBe(true);
    expect(await settleWithin(Promise.reject(new Error('gone')), 1_000)).toBe(true);
    expect(await settleWithin(new Promise(() => undefined), 20)).toBe(false);
  });
});
