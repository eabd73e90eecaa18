import { z } from 'zod';
import { integer, list, oneOf, setting } from './setting.js';

const file = () => z.string().min(1).optional();

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
  redisTimeoutMs: setting(
    '--redis-timeout-ms',
    'n',
    'REDIS_TIMEOUT_MS',
    integer(1).default(10_000),
    'How long one-shot commands (submit, status, …) wait for an unreachable Redis before they give up with exit code 3, ms; workers and the exporter keep retrying.',
  ),
  redisPasswordFile: setting(
    '--redis-password-file',
    'file',
    'REDIS_PASSWORD_FILE',
    file(),
    'File holding the Redis password (wins over one in the URL), so that it shows in no process list.',
  ),
  redisCaFile: setting(
    '--redis-ca-file',
    'file.pem',
    'REDIS_CA_FILE',
    file(),
    "PEM file of the CA(s) that signed the Redis server's certificate; implies TLS.",
  ),
  redisCertFile: setting(
    '--redis-cert-file',
    'file.pem',
    'REDIS_CERT_FILE',
    file(),
    'PEM client certificate for a Redis that asks for one (with --redis-key-file).',
  ),
  redisKeyFile: setting(
    '--redis-key-file',
    'file.pem',
    'REDIS_KEY_FILE',
    file(),
    'PEM private key of the client certificate.',
  ),
  redisSentinels: setting(
    '--redis-sentinels',
    'host:port,…',
    'REDIS_SENTINELS',
    list(/,/, z.string().regex(/^[^\s,:]+:\d+$/, { error: 'expected host:port[,host:port…]' })).optional(),
    "Redis Sentinels to find the primary through; the URL's host and port are then unused, its password, TLS and database still apply.",
  ),
  redisSentinelName: setting(
    '--redis-sentinel-name',
    'name',
    'REDIS_SENTINEL_NAME',
    z.string().min(1).default('mymaster'),
    'Sentinel master group name of the primary.',
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
