import { z } from 'zod';
import { oneOf, setting } from './setting.js';

/** What every command that talks to Redis takes: where the fleet's Redis is, and how much to log. */
export const connectionSettings = {
  redisUrl: setting(
    '--redis-url',
    'url',
    'REDIS_URL',
    z
      .string()
      .regex(/^rediss?:\/\//, { error: 'expected a URL starting with redis:// or rediss://' })
      .default('redis://127.0.0.1:6379'),
    'Redis of the fleet; rediss:// for TLS.',
  ),
  prefix: setting(
    '--prefix',
    'prefix',
    'DOCFLEET_PREFIX',
    z
      .string()
      .regex(/^[\w.-]+$/, { error: 'expected letters, digits, _ . or -' })
      .default('docfleet'),
    'Key prefix of every queue and result; lets several fleets (staging, production, tests) share one Redis.',
  ),
  logLevel: setting(
    '--log-level',
    'level',
    'LOG_LEVEL',
    oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    'Least severe log level written; debug also prints the stack of an error the user can fix.',
  ),
};
