import { InvalidArgumentError, Option, type Command } from 'commander';
import type { RawSettings } from '../config.js';
import { defaultOf, parseSetting, type SettingTable } from './setting.js';

/**
 * Adds a command-line option for each setting of `table`: its flag, its environment variable (commander's
 * `Option.env`, so the flag wins over the variable and both over the default), its default and its help. A bad value
 * stops the command at parsing with one line naming the flag, or the flag and the variable it came from.
 * Settings named in `hidden` are accepted (and read from the environment) without being listed in `--help`.
 */
export function addSettings(cmd: Command, table: SettingTable, hidden: readonly string[] = []): Command {
  for (const [key, s] of Object.entries(table)) {
    const option = new Option(`${s.flag} <${s.arg}>`, s.description)
      .env(s.env)
      .argParser((raw: string) => {
        const r = parseSetting(s, raw);
        if ('problem' in r) throw new InvalidArgumentError(r.problem);
        return r.value;
      })
      .hideHelp(hidden.includes(key));
    const value = defaultOf(s);
    if (value !== undefined) option.default(value);
    cmd.addOption(option);
  }
  return cmd;
}

/** The values commander parsed for the settings of `table`, by setting key (commander names them after the flag). */
export function settingValues(table: SettingTable, options: Record<string, unknown>): RawSettings {
  return Object.fromEntries(Object.entries(table).map(([key, s]) => [key, options[attributeName(s.flag)]]));
}

function attributeName(flag: string): string {
  return flag.replace(/^--/, '').replace(/-(\w)/g, (_m, c: string) => c.toUpperCase());
}
