import { EventEmitter } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { loadProducerConfig } from '../../src/shared/config.js';
import { ConfigError } from '../../src/shared/errors.js';
import { RedisAvailability } from '../../src/shared/redis-availability.js';
import { displayTarget, redisOptions } from '../../src/shared/redis-options.js';
import { redactRedisError, redactUrl } from '../../src/shared/redis-redaction.js';

const dir = mkdtempSync(path.join(tmpdir(), 'docfleet-redis-unit-'));
const file = (name: string, text: string) => {
  const at = path.join(dir, name);
  writeFileSync(at, text);
  return at;
};
const settings = (env: Record<string, string>) => loadProducerConfig(env);

describe('what may be shown of a Redis connection', () => {
  it('hides the password of a URL and keeps the rest', () => {
    expect(redactUrl('redis://:s3cret@redis:6379/2')).toBe('redis://:***@redis:6379/2');
    expect(redactUrl('rediss://user:s3cret@redis:6380')).toBe('rediss://user:***@redis:6380');
    expect(redactUrl('redis://redis:6379')).toBe('redis://redis:6379');
  });

  it('strips the arguments of a refused AUTH or HELLO, and any known secret from other errors', () => {
    const hello = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
      command: { name: 'hello', args: ['3', 'AUTH', 'default', 's3cret'] },
    });
    expect(JSON.stringify(redactRedisError(hello))).not.toContain('s3cret');
    const other = Object.assign(new Error('failed at redis://:s3cret@host'), {
      command: { name: 'get', args: ['s3cret', 'key'] },
    });
    const shown = redactRedisError(other, ['s3cret']);
    expect(`${shown.message} ${JSON.stringify(shown)}`).not.toContain('s3cret');
    expect(JSON.stringify(shown)).toContain('key');
  });

  it('names the Sentinels instead of the unused host when connecting through them', () => {
    const s = settings({ REDIS_URL: 'redis://:pw@ignored:6379', REDIS_SENTINELS: 'a:26379,b:26379' });
    expect(displayTarget(s)).toBe('redis://:***@ignored:6379 (primary "mymaster" via sentinels a:26379,b:26379)');
  });
});

describe('ioredis options from the settings', () => {
  it('reads the password from its file, without the trailing newline', () => {
    const s = settings({ REDIS_PASSWORD_FILE: file('pw', 's3cret\n') });
    expect(redisOptions(s, 'service').password).toBe('s3cret');
  });

  it('turns TLS on for rediss:// and for a CA file, and wants a client certificate with its key', () => {
    expect(redisOptions(settings({ REDIS_URL: 'rediss://redis:6380' }), 'service').tls).toEqual({});
    const ca = file('ca.pem', 'CA');
    expect(redisOptions(settings({ REDIS_CA_FILE: ca }), 'service').tls).toEqual({ ca: 'CA' });
    expect(() => redisOptions(settings({ REDIS_CERT_FILE: ca }), 'service')).toThrow(ConfigError);
    expect(() => redisOptions(settings({ REDIS_CA_FILE: path.join(dir, 'missing.pem') }), 'service')).toThrow(
      /--redis-ca-file/,
    );
  });

  it('passes the Sentinels and the group name on; rejects a list that is not host:port', () => {
    const o = redisOptions(settings({ REDIS_SENTINELS: 's1:26379,s2:26380', REDIS_SENTINEL_NAME: 'fleet' }), 'service');
    expect(o.sentinels).toEqual([
      { host: 's1', port: 26379 },
      { host: 's2', port: 26380 },
    ]);
    expect(o.name).toBe('fleet');
    expect(() => settings({ REDIS_SENTINELS: 's1' })).toThrow(/REDIS_SENTINELS/);
  });

  it('retries forever as a service, and as a one-shot command only for its timeout', () => {
    const s = settings({ REDIS_TIMEOUT_MS: '3000' });
    const service = redisOptions(s, 'service').retryStrategy!;
    const oneShot = redisOptions(s, 'one-shot').retryStrategy!;
    expect(service(1_000)).toBeGreaterThan(0);
    expect(oneShot(1)).toBeGreaterThan(0);
    expect(oneShot(1_000)).toBeNull();
  });
});

describe('RedisAvailability', () => {
  it('reports one outage for many connections and retries, and its end once all are back', () => {
    const availability = new RedisAvailability();
    const events: string[] = [];
    availability.onChange({ unavailable: () => events.push('down'), available: () => events.push('up') });
    const [a, b] = [new EventEmitter(), new EventEmitter()];
    availability.watch(a as unknown as Redis);
    availability.watch(b as unknown as Redis);
    a.emit('reconnecting');
    b.emit('error', new Error('ECONNREFUSED'));
    a.emit('error', new Error('ECONNREFUSED'));
    expect(availability.available).toBe(false);
    a.emit('ready');
    expect(availability.available).toBe(false);
    b.emit('ready');
    expect(availability.available).toBe(true);
    // A connection closed for good during an outage is no comeback to report.
    a.emit('error', new Error('ECONNREFUSED'));
    a.emit('end');
    expect(events).toEqual(['down', 'up', 'down']);
    expect(availability.available).toBe(true);
  });
});
