import { Command, CommanderError } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadProducerConfig, loadWorkerConfig, workerConfig, type WorkerConfig } from '../../src/shared/config.js';
import { ConfigError } from '../../src/shared/errors.js';
import { addSettings, settingValues } from '../../src/shared/settings/setting-options.js';
import { workerSettings } from '../../src/shared/settings/worker-settings.js';

/** What `docfleet worker <args>` would run with, the environment as stubbed. */
function parseWorker(...args: string[]): WorkerConfig {
  const cmd = addSettings(new Command('worker'), workerSettings)
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  cmd.parse(args, { from: 'user' });
  return workerConfig(settingValues(workerSettings, cmd.opts()));
}

function parseError(...args: string[]): string {
  try {
    parseWorker(...args);
  } catch (err) {
    if (err instanceof CommanderError || err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('accepted');
}

afterEach(() => vi.unstubAllEnvs());

describe('config', () => {
  it('has defaults a single machine can run with', () => {
    const c = loadWorkerConfig({ MODEL_PATH: '/m.gguf' });
    expect(c).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      device: 'cpu',
      tag: 'cpu',
      concurrency: 4,
      threads: 'auto',
      contexts: 'auto',
      role: 'auto',
      metricsPort: 9464,
    });
    expect(parseWorker('--model', '/m.gguf')).toEqual(c);
  });

  it('prefers a flag over its environment variable, and the variable over the default', () => {
    vi.stubEnv('MODEL_PATH', '/env.gguf');
    vi.stubEnv('DOCFLEET_CONCURRENCY', '2');
    expect(parseWorker('--model', '/flag.gguf', '--concurrency', '8')).toMatchObject({
      modelPath: '/flag.gguf',
      concurrency: 8,
    });
    expect(parseWorker()).toMatchObject({ modelPath: '/env.gguf', concurrency: 2, graceMs: 30_000 });
  });

  it('treats an empty variable as not set', () => {
    vi.stubEnv('DOCFLEET_CONCURRENCY', '');
    expect(parseWorker('--model', '/m').concurrency).toBe(4);
    expect(loadWorkerConfig({ MODEL_PATH: '/m', DOCFLEET_CONCURRENCY: '' }).concurrency).toBe(4);
  });

  it('tags a worker by its device unless told otherwise', () => {
    expect(parseWorker('--model', '/m', '--device', 'gpu').tag).toBe('gpu');
    expect(parseWorker('--model', '/m', '--device', 'gpu', '--tag', 'cpu').tag).toBe('cpu');
  });

  it('rejects a bad value in one line naming the flag, or the flag and the variable it came from', () => {
    expect(parseError('--model', '/m', '--concurrency', 'lots')).toBe(
      "error: option '--concurrency <n>' argument 'lots' is invalid. expected a whole number from 1 to 256",
    );
    vi.stubEnv('REDIS_URL', 'http://x');
    expect(parseError('--model', '/m')).toMatch(
      /'--redis-url <url>' value 'http:\/\/x' from env 'REDIS_URL'.*redis:\/\//,
    );
    vi.unstubAllEnvs();
    vi.stubEnv('MODEL_PATH', '');
    expect(parseError()).toMatch(
      /^error: option '--model <file.gguf>' value '' from env 'MODEL_PATH' is invalid. is required/,
    );
    vi.unstubAllEnvs();
    vi.stubEnv('MODEL_PATH', undefined);
    expect(parseError()).toBe(
      'invalid configuration: --model / MODEL_PATH: is required: the path of a .gguf file (not set)',
    );
  });

  it('names every bad setting of an environment in one line', () => {
    expect(() => loadWorkerConfig({ DOCFLEET_CONCURRENCY: 'lots' })).toThrow(ConfigError);
    const msg = (() => {
      try {
        loadWorkerConfig({ DOCFLEET_CONCURRENCY: '0', REDIS_URL: 'http://x' });
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })();
    expect(msg).not.toContain('\n');
    expect(msg).toContain('--model / MODEL_PATH');
    expect(msg).toContain('--concurrency / DOCFLEET_CONCURRENCY');
    expect(msg).toContain('--redis-url / REDIS_URL');
    expect(msg).toContain('"http://x"');
  });

  it('accepts "auto" or a number for threads, contexts and context size', () => {
    expect(parseWorker('--model', '/m', '--threads', '3').threads).toBe(3);
    expect(parseError('--model', '/m', '--threads', 'many')).toContain(
      'expected auto or a whole number from 1 to 1024',
    );
    expect(loadWorkerConfig({ MODEL_PATH: '/m', DOCFLEET_CONTEXTS: '2' }).contexts).toBe(2);
    expect(() => loadWorkerConfig({ MODEL_PATH: '/m', DOCFLEET_CONTEXTS: '0' })).toThrow(
      /--contexts \/ DOCFLEET_CONTEXTS/,
    );
    expect(parseWorker('--model', '/m', '--gpu-layers', 'max').gpuLayers).toBe('max');
    expect(parseWorker('--model', '/m', '--gpu-layers', '12').gpuLayers).toBe(12);
  });

  it('reads producer settings from the environment', () => {
    expect(loadProducerConfig({ DOCFLEET_PREFIX: 'night', DOCFLEET_MAX_DOCUMENT_MB: '5' })).toMatchObject({
      prefix: 'night',
      maxDocumentMb: 5,
      attempts: 3,
    });
  });

  it('shows each setting with its variable and default in --help', () => {
    const help = addSettings(new Command('worker'), workerSettings).helpInformation().replace(/\s+/g, ' ');
    expect(help).toMatch(/--concurrency <n> Jobs at once[^(]*\(default: 4, env: DOCFLEET_CONCURRENCY\)/);
    expect(help).toMatch(/--model <file\.gguf> The GGUF model the worker holds \(required\)\. \(env: MODEL_PATH\)/);
  });

  it('adds up a repeated flag; its variable holds the whole list', () => {
    const c = parseWorker('--model', '/m', '--documents-root', '/a', '--documents-root', '/b,/c');
    expect(c.documentsRoots).toEqual(['/a', '/b', '/c']);
    vi.stubEnv('DOCUMENTS_ROOTS', '/x:/y');
    vi.stubEnv('DOCFLEET_ALLOW_URL_PREFIXES', 'https://a.example/ https://b.example/');
    expect(parseWorker('--model', '/m')).toMatchObject({
      documentsRoots: ['/x', '/y'],
      allowUrlPrefixes: ['https://a.example/', 'https://b.example/'],
    });
    expect(parseWorker('--model', '/m', '--documents-root', '/z').documentsRoots).toEqual(['/z']);
    expect(parseError('--model', '/m', '--allow-url-prefix', 'ftp://x')).toMatch(/--allow-url-prefix.*http\(s\) URLs/);
  });

  it('turns a switch on by its flag, or by its variable set to true or 1 but not false', () => {
    expect(parseWorker('--model', '/m').allowPrivateAddresses).toBe(false);
    expect(parseWorker('--model', '/m', '--allow-private-addresses').allowPrivateAddresses).toBe(true);
    vi.stubEnv('DOCFLEET_ALLOW_PRIVATE_ADDRESSES', 'false');
    expect(parseWorker('--model', '/m').allowPrivateAddresses).toBe(false);
    vi.stubEnv('DOCFLEET_ALLOW_PRIVATE_ADDRESSES', '1');
    expect(parseWorker('--model', '/m').allowPrivateAddresses).toBe(true);
    vi.stubEnv('DOCFLEET_ALLOW_PRIVATE_ADDRESSES', 'maybe');
    expect(parseError('--model', '/m')).toMatch(/--allow-private-addresses \/ DOCFLEET_ALLOW_PRIVATE_ADDRESSES/);
  });
});
