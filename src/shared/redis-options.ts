import { readFileSync } from 'node:fs';
import type { RedisOptions } from 'ioredis';
import type { ConnectionConfig } from './config.js';
import { ConfigError } from './errors.js';
import { redactUrl } from './redis-redaction.js';

/** ioredis options as this module builds them (replies in the default shapes). */
export type RedisClientOptions = Omit<RedisOptions, 'replyMapping'>;

/** The settings every component connects to Redis with. */
export type RedisSettings = Pick<
  ConnectionConfig,
  | 'redisUrl'
  | 'redisTimeoutMs'
  | 'redisPasswordFile'
  | 'redisCaFile'
  | 'redisCertFile'
  | 'redisKeyFile'
  | 'redisSentinels'
  | 'redisSentinelName'
>;

/**
 * `service`: workers and the exporter wait out any outage, retrying forever (BullMQ's blocking connections
 * need `maxRetriesPerRequest: null`). `one-shot`: CLI commands give up once Redis has been unreachable for
 * `redisTimeoutMs`, so a cron job or CI step ends instead of hanging.
 */
export type RedisUse = 'service' | 'one-shot';

/** Longest pause between reconnect attempts, ms: short, so a worker is back soon after Redis is. */
const MAX_RETRY_DELAY_MS = 1_000;
const retryDelay = (attempt: number) => Math.min(attempt * 100, MAX_RETRY_DELAY_MS);

/** ioredis options from the settings; the files are read here, when a component opens its connection. */
export function redisOptions(settings: RedisSettings, use: RedisUse): RedisClientOptions {
  const retryStrategy = (attempt: number) =>
    use === 'service' || totalDelay(attempt) <= settings.redisTimeoutMs ? retryDelay(attempt) : null;
  const options: RedisClientOptions = {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectTimeout: Math.min(settings.redisTimeoutMs, 10_000),
    // One-shot: attempts count from the last success, so their pauses add up to the time Redis has been away.
    retryStrategy,
  };
  if (settings.redisPasswordFile)
    options.password = readSetting(settings.redisPasswordFile, '--redis-password-file / REDIS_PASSWORD_FILE').trim();
  const tls = tlsOptions(settings);
  if (tls) options.tls = tls;
  const sentinels = sentinelAddresses(settings);
  if (sentinels) {
    options.sentinels = sentinels;
    options.name = settings.redisSentinelName;
    options.sentinelRetryStrategy = retryStrategy;
    // The primary (and replicas) over TLS when the URL asks for it; the sentinels themselves speak plain.
    if (tls) options.enableTLSForSentinelMode = true;
    // Follow a failover as soon as the sentinels announce it, rather than at the next lost connection.
    options.failoverDetector = true;
  }
  return options;
}

function totalDelay(attempts: number): number {
  let sum = 0;
  for (let i = 1; i <= attempts; i++) sum += retryDelay(i);
  return sum;
}

function tlsOptions(settings: RedisSettings): RedisClientOptions['tls'] {
  const { redisCaFile, redisCertFile, redisKeyFile } = settings;
  const wanted = settings.redisUrl.startsWith('rediss://') || redisCaFile || redisCertFile || redisKeyFile;
  if (!wanted) return undefined;
  if (Boolean(redisCertFile) !== Boolean(redisKeyFile))
    throw new ConfigError('--redis-cert-file / REDIS_CERT_FILE and --redis-key-file / REDIS_KEY_FILE go together');
  return {
    ...(redisCaFile && { ca: readSetting(redisCaFile, '--redis-ca-file / REDIS_CA_FILE') }),
    ...(redisCertFile && { cert: readSetting(redisCertFile, '--redis-cert-file / REDIS_CERT_FILE') }),
    ...(redisKeyFile && { key: readSetting(redisKeyFile, '--redis-key-file / REDIS_KEY_FILE') }),
  };
}

/** A file a setting names; an unreadable one is a configuration error naming the setting. */
function readSetting(file: string, setting: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${setting}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The URL without its password, or the sentinels and group name when connecting through Sentinel. */
export function displayTarget(settings: RedisSettings): string {
  const url = redactUrl(settings.redisUrl);
  if (!settings.redisSentinels?.length) return url;
  return `${url} (primary "${settings.redisSentinelName}" via sentinels ${settings.redisSentinels.join(',')})`;
}

function sentinelAddresses(settings: RedisSettings): { host: string; port: number }[] | undefined {
  if (!settings.redisSentinels?.length) return undefined;
  return settings.redisSentinels.map((entry) => {
    const at = entry.lastIndexOf(':');
    return { host: entry.slice(0, at), port: Number(entry.slice(at + 1)) };
  });
}
