import type { Command } from 'commander';
import { producerConfig } from '../../shared/config.js';
import { RedisUnavailableError } from '../../shared/errors.js';
import { producerSettings } from '../../shared/settings/producer-settings.js';
import { addSettings, settingValues } from '../../shared/settings/setting-options.js';
import { Producer } from '../producer.js';

/** Options as commander hands them over, by camelCase name. */
export type Flags = Record<string, unknown>;

/** Settings a producer command does not use itself but passes to the Producer: accepted, left out of its help. */
const NOT_SHOWN = ['maxDocumentMb', 'attempts', 'resultTtlDays', 'allowUrlPrefixes', 'allowPrivateAddresses'];

/** A producer command: the producer settings as options. */
export function producerCommand(program: Command, name: string, hidden: readonly string[] = NOT_SHOWN): Command {
  return addSettings(program.command(name), producerSettings, hidden);
}

/** Runs `fn` with a producer connected to Redis, and closes it however `fn` ends. */
export async function withProducer<T>(flags: Flags, fn: (p: Producer) => Promise<T>): Promise<T> {
  const config = producerConfig(settingValues(producerSettings, flags));
  const producer = new Producer(config);
  try {
    // The timeout is the command's, counted from its start (performance.now()): a loaded machine's slow
    // start must not push a cron job past it.
    await producer.connection.ready(Math.max(1_000, config.redisTimeoutMs - performance.now()));
    return await fn(producer);
  } catch (err) {
    // Redis went away mid-command and stayed away for the timeout: say so in one line, not with its stack.
    if (!(err instanceof RedisUnavailableError) && producer.connection.disconnected)
      throw producer.connection.unavailable(err);
    throw err;
  } finally {
    await producer.close();
  }
}

/** One JSON line on stdout. */
export const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
