import { Redis, type RedisOptions } from 'ioredis';
import { RedisUnavailableError } from './errors.js';
import { RedisAvailability } from './redis-availability.js';
import { displayTarget, redisOptions, type RedisSettings, type RedisUse } from './redis-options.js';
import { redactRedisError } from './redis-redaction.js';

export type { RedisSettings, RedisUse };

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
    const options = redisOptions(settings, use);
    this.secrets = secretsOf(settings.redisUrl, options.password);
    this.client = this.harden(new Redis(settings.redisUrl, options));
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
        if (!err) {
          resolve();
          return;
        }
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

/** The password, from the URL or its file, to be scrubbed from anything shown. */
function secretsOf(url: string, fromFile: string | undefined): string[] {
  let fromUrl = '';
  try {
    fromUrl = decodeURIComponent(new URL(url).password);
  } catch {
    // An unparsable URL fails in ioredis with its own message.
  }
  return [fromUrl, fromFile ?? ''].filter(Boolean);
}
