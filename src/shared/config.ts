import { ConfigError } from './errors.js';
import type { connectionSettings } from './settings/connection-settings.js';
import { consoleSettings } from './settings/console-settings.js';
import { exporterSettings, producerSettings } from './settings/producer-settings.js';
import { parseSetting, type SettingTable, type SettingValues } from './settings/setting.js';
import { workerSettings } from './settings/worker-settings.js';

/**
 * Typed configuration of each component, validated by the setting tables in `settings/`. Commands get their values
 * from commander (flag, else environment variable, else default: see setting-options.ts); programs without a
 * command line (the demo, tests, benchmarks) read the environment with the `load…` functions.
 */

/** Values by setting key, as text (environment) or already converted (commander). */
export type RawSettings = Record<string, unknown>;

/** What every component connects to Redis with. */
export type ConnectionConfig = SettingValues<typeof connectionSettings>;
export type ProducerConfig = SettingValues<typeof producerSettings>;
export type ExporterConfig = SettingValues<typeof exporterSettings>;
export type ConsoleConfig = SettingValues<typeof consoleSettings>;
export type WorkerConfig = Omit<SettingValues<typeof workerSettings>, 'tag'> & { tag: 'cpu' | 'gpu' };

function validate<S extends SettingTable>(table: S, raw: RawSettings): SettingValues<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, s] of Object.entries(table)) {
    const r = parseSetting(s, raw[key]);
    if ('value' in r) out[key] = r.value;
    else {
      const given = raw[key] === undefined || raw[key] === '' ? 'not set' : `got ${JSON.stringify(raw[key])}`;
      problems.push(`${s.flag} / ${s.env}: ${r.problem} (${given})`);
    }
  }
  // One line, so that the CLI can print it as it is.
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return out as SettingValues<S>;
}

function fromEnvironment(table: SettingTable, env: NodeJS.ProcessEnv): RawSettings {
  return Object.fromEntries(Object.entries(table).map(([key, s]) => [key, env[s.env]]));
}

export function producerConfig(raw: RawSettings): ProducerConfig {
  return validate(producerSettings, raw);
}

export function exporterConfig(raw: RawSettings): ExporterConfig {
  return validate(exporterSettings, raw);
}

export function consoleConfig(raw: RawSettings): ConsoleConfig {
  return validate(consoleSettings, raw);
}

export function workerConfig(raw: RawSettings): WorkerConfig {
  const values = validate(workerSettings, raw);
  return { ...values, tag: values.tag ?? values.device };
}

export function loadProducerConfig(env: NodeJS.ProcessEnv = process.env): ProducerConfig {
  return producerConfig(fromEnvironment(producerSettings, env));
}

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return workerConfig(fromEnvironment(workerSettings, env));
}

export const MiB = 1024 * 1024;
