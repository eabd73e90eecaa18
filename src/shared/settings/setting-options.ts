import { InvalidArgumentError, Option, type Command } from 'commander';
import type { RawSettings } from '../config.js';
import { defaultOf, parseSetting, type Setting, type SettingTable } from './setting.js';

/**
 * Adds a command-line option for each setting of `table`: its flag, its environment variable (commander's
 * `Option.env`, so the flag wins over the variable and both over the default), its default and its help. A bad value
 * stops the command at parsing with one line naming the flag, or the flag and the variable it came from.
 * Settings named in `hidden` are accepted (and read from the environment) without being listed in `--help`.
 */
export function addSettings(cmd: Command, table: SettingTable, hidden: readonly string[] = []): Command {
  for (const [key, s] of Object.entries(table)) {
    const option = s.arg === '' ? switchOption(s) : valueOption(s);
    cmd.addOption(option.hideHelp(hidden.includes(key)));
  }
  return cmd;
}

function valueOption(s: Setting): Option {
  const option = new Option(`${s.flag} <${s.arg}>`, s.description)
    .env(s.env)
    .argParser((raw: string, previous: unknown) => {
      const r = parseSetting(s, raw);
      if ('problem' in r) throw new InvalidArgumentError(r.problem);
      // A repeated flag adds to the values before it (or to the default, an empty list).
      return s.repeatable && Array.isArray(previous) && Array.isArray(r.value)
        ? [...(previous as unknown[]), ...(r.value as unknown[])]
        : r.value;
    });
  const value = defaultOf(s);
  // An empty list is left to the schema, so that the help does not show `default: []`.
  if (value !== undefined && !Array.isArray(value)) option.default(value);
  return option;
}

/**
 * Commander turns a switch on whenever its variable is set, even to `false`; so the variable is read by
 * {@link settingValues} instead, and only named in the help.
 */
function switchOption(s: Setting): Option {
  return new Option(s.flag, `${s.description} (env: ${s.env})`);
}

/**
 * The values commander parsed for the settings of `table`, by setting key (commander names them after the flag);
 * for a switch not given, the value of its variable.
 */
export function settingValues(
  table: SettingTable,
  options: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): RawSettings {
  return Object.fromEntries(
    Object.entries(table).map(([key, s]) => {
      const value = options[attributeName(s.flag)];
      return [key, value === undefined && s.arg === '' ? env[s.env] : value];
    }),
  );
}

function attributeName(flag: string): string {
  return flag.replace(/^--/, '').replace(/-(\w)/g, (_m, c: string) => c.toUpperCase());
}
