import { Redis } from 'ioredis';

/**
 * One Redis connection per role (queue client, result store). BullMQ requires
 * `maxRetriesPerRequest: null` so that a Redis restart makes commands wait instead of fail.
 */
export function connectRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
}
