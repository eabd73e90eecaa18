import { describe, expect, it } from 'vitest';
import { loadProducerConfig, loadWorkerConfig } from '../../src/shared/config.js';
import { ConfigError } from '../../src/shared/errors.js';

describe('config', () => {
  it('has defaults a single machine can run with', () => {
    const c = loadWorkerConfig({}, { MODEL_PATH: '/m.gguf' });
    expect(c).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      device: 'cpu',
      tag: 'cpu',
      concurrency: 4,
      threads: 'auto',
      contexts: 'auto',
      role: 'auto',
    });
  });

  it('prefers a flag over its environment variable', () => {
    const c = loadWorkerConfig(
      { model: '/flag.gguf', concurrency: '8' },
      { MODEL_PATH: '/env.gguf', DOCFLEET_CONCURRENCY: '2' },
    );
    expect(c.modelPath).toBe('/flag.gguf');
    expect(c.concurrency).toBe(8);
  });

  it('tags a worker by its device unless told otherwise', () => {
    expect(loadWorkerConfig({ model: '/m', device: 'gpu' }, {}).tag).toBe('gpu');
    expect(loadWorkerConfig({ model: '/m', device: 'gpu', tag: 'cpu' }, {}).tag).toBe('cpu');
  });

  it('rejects bad values with a message naming the flag and the variable', () => {
    expect(() => loadWorkerConfig({}, { DOCFLEET_CONCURRENCY: 'lots' })).toThrow(ConfigError);
    try {
      loadWorkerConfig({}, { DOCFLEET_CONCURRENCY: '0', REDIS_URL: 'http://x' });
    } catch (err) {
      const msg = (err as Error).message;
      expect(msg).toContain('--model / MODEL_PATH');
      expect(msg).toContain('--concurrency / DOCFLEET_CONCURRENCY');
      expect(msg).toContain('--redis-url / REDIS_URL');
      expect(msg).toContain('"http://x"');
    }
  });

  it('accepts "auto" or a number for threads', () => {
    expect(loadWorkerConfig({ model: '/m', threads: '3' }, {}).threads).toBe(3);
    expect(() => loadWorkerConfig({ model: '/m', threads: 'many' }, {})).toThrow(/--threads/);
  });

  it('accepts "auto" or a positive number for contexts', () => {
    expect(loadWorkerConfig({ model: '/m' }, { DOCFLEET_CONTEXTS: '2' }).contexts).toBe(2);
    expect(() => loadWorkerConfig({ model: '/m', contexts: '0' }, {})).toThrow(/--contexts \/ DOCFLEET_CONTEXTS/);
  });

  it('reads producer settings from the environment', () => {
    expect(loadProducerConfig({}, { DOCFLEET_PREFIX: 'night', DOCFLEET_MAX_DOCUMENT_MB: '5' })).toMatchObject({
      prefix: 'night',
      maxDocumentMb: 5,
    });
  });
});
