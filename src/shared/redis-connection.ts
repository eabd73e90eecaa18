import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type { CommonConfig } from './config.js';
import { ConfigError, RedisUnavailableError } from './errors.js';
import { RedisAvailability } from './redis-availability.js';
import { redactRedisError, redactUrl } from './redis-redaction.js';

/** ioredis options as this module builds them (replies in the default shapes). */
type Options = Omit<RedisOptions, 'replyMapping'>;

/** The settings every component connects to Redis with. */
export type RedisSettings = Pick<
  CommonConfig,
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

/**
 * One component's connection to Redis: an ioredis client that never lets a credential out (ioredis attaches
 * the failed `HELLO … AUTH <password>` to its errors; they are cleaned before anyone sees them), never prints
 * "Unhandled error event" (its errors feed the availability), and whose duplicates (BullMQ's and the
 * scheduler's blocking connections) are alike and share that availability. `close()` when done.
 */
export class RedisConnection {
  readonly client: Redis;
  /** Whether Redis is reachable, from the connections' events; tell it whom to report transitions to. */
  readonly availability = new RedisAvailability();
  /** Where it connects, safe to print. */
  readonly displayUrl: string;
  private readonly secrets: string[];

  constructor(
    readonly settings: RedisSettings,
    readonly use: RedisUse,
  ) {
    this.displayUrl = displayTarget(settings);
    this.secrets = secretsOf(settings);
    this.client = this.harden(new Redis(settings.redisUrl, redisOptions(settings, use)));
  }

  /**
   * Resolves once the client is ready; rejects with a one-line RedisUnavailableError once `timeoutMs` has
   * passed without (or at once when Redis refuses the credentials: waiting cannot fix those).
   */
  ready(timeoutMs = this.settings.redisTimeoutMs): Promise<void> {
    const { client } = this;
    if (client.status === 'ready') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let lastError: Error | undefined;
      const done = (err?: Error) => {
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('error', onError);
        if (!err) return resolve();
        client.disconnect();
        reject(this.unavailable(err));
      };
      const onReady = () => done();
      const onError = (err: Error) => {
        lastError = err;
        if (isAuthError(err)) done(err);
      };
      const timer = setTimeout(() => done(lastError ?? new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      client.on('ready', onReady);
      client.on('error', onError);
    });
  }

  /** Whether the client is between connections or (one-shot, after its timeout) has given up. */
  get disconnected(): boolean {
    return this.client.status !== 'ready';
  }

  /** The one-line error a one-shot command ends with when Redis is away or refuses us. */
  unavailable(cause: unknown): RedisUnavailableError {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const seconds = this.settings.redisTimeoutMs / 1000;
    const what = isAuthError(cause) ? 'refused the credentials' : `could not be reached within ${seconds} s`;
    return new RedisUnavailableError(`Redis at ${this.displayUrl} ${what}: ${oneLine(reason)}`);
  }

  close(): void {
    this.client.disconnect();
  }

  private harden(client: Redis): Redis {
    const { secrets } = this;
    // First listener, so the error is clean before BullMQ or a log sees it.
    client.on('error', (err: Error) => redactRedisError(err, secrets));
    this.availability.watch(client);
    // A refused AUTH/HELLO rejects its own command first; clean the error there, before any handler has it.
    const send = client.sendCommand.bind(client);
    client.sendCommand = (command, stream) => {
      if (CREDENTIAL_COMMANDS.includes(command.name.toLowerCase())) {
        const reject = command.reject.bind(command);
        command.reject = (err: Error) => reject(redactRedisError(err, secrets));
      }
      return send(command, stream);
    };
    const duplicate = client.duplicate.bind(client);
    client.duplicate = (override?: Partial<RedisOptions>) => this.harden(duplicate(override));
    return client;
  }
}

const CREDENTIAL_COMMANDS = ['auth', 'hello'];

function isAuthError(err: unknown): boolean {
  return err instanceof Error && /^(WRONGPASS|NOAUTH|NOPERM)\b/.test(err.message);
}

function oneLine(text: string): string {
  return text.split('\n')[0]!.trim();
}

/** ioredis options from the settings; files are read here, once per client, so rotated secrets are picked up. */
export function redisOptions(settings: RedisSettings, use: RedisUse): Options {
  const retryStrategy = (attempt: number) =>
    use === 'service' || totalDelay(attempt) <= settings.redisTimeoutMs ? retryDelay(attempt) : null;
  const options: Options = {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectTimeout: Math.min(settings.redisTimeoutMs, 10_000),
    // One-shot: attempts count from the last success, so their pauses add up to the time Redis has been away.
    retryStrategy,
  };
  if (settings.redisPasswordFile)
    options.password = readSetting(settings.redisPasswordFile, 'redisPasswordFile').trim();
  const tls = tlsOptions(settings);
  if (tls) options.tls = tls;
  if (settings.redisSentinels) {
    options.sentinels = settings.redisSentinels;
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

function tlsOptions(settings: RedisSettings): Options['tls'] {
  const { redisCaFile, redisCertFile, redisKeyFile } = settings;
  const wanted = settings.redisUrl.startsWith('rediss://') || redisCaFile || redisCertFile || redisKeyFile;
  if (!wanted) return undefined;
  if (Boolean(redisCertFile) !== Boolean(redisKeyFile))
    throw new ConfigError('--redis-cert-file / REDIS_CERT_FILE and --redis-key-file / REDIS_KEY_FILE go together');
  return {
    ...(redisCaFile && { ca: readSetting(redisCaFile, 'redisCaFile') }),
    ...(redisCertFile && { cert: readSetting(redisCertFile, 'redisCertFile') }),
    ...(redisKeyFile && { key: readSetting(redisKeyFile, 'redisKeyFile') }),
  };
}

const FLAGS: Record<string, string> = {
  redisPasswordFile: '--redis-password-file / REDIS_PASSWORD_FILE',
  redisCaFile: '--redis-ca-file / REDIS_CA_FILE',
  redisCertFile: '--redis-cert-file / REDIS_CERT_FILE',
  redisKeyFile: '--redis-key-file / REDIS_KEY_FILE',
};

function readSetting(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${FLAGS[key]}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The password, wherever it comes from, to be scrubbed from anything shown. */
function secretsOf(settings: RedisSettings): string[] {
  const secrets: string[] = [];
  try {
    const fromUrl = decodeURIComponent(new URL(settings.redisUrl).password);
    if (fromUrl) secrets.push(fromUrl);
  } catch {
    // An unparsable URL fails in ioredis with its own message.
  }
  if (settings.redisPasswordFile) {
    try {
      const fromFile = readFileSync(settings.redisPasswordFile, 'utf8').trim();
      if (fromFile) secrets.push(fromFile);
    } catch {
      // redisOptions reports an unreadable file.
    }
  }
  return secrets;
}

/** The URL without its password, or the sentinels and group name when connecting through Sentinel. */
export function displayTarget(settings: RedisSettings): string {
  const url = redactUrl(settings.redisUrl);
  if (!settings.redisSentinels) return url;
  const sentinels = settings.redisSentinels.map((s) => `${s.host}:${s.port}`).join(',');
  return `${url} (primary "${settings.redisSentinelName}" via sentinels ${sentinels})`;
}
