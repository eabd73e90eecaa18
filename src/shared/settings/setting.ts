import { z } from 'zod';

/**
 * One setting, declared once: the command-line options, the typed configuration and the configuration reference
 * (docs/configuration.md) are all generated from these. A flag wins over its environment variable, which wins over
 * the default; commander applies that order, the schema validates and converts whichever value it picked.
 */
export interface Setting<T extends z.ZodType = z.ZodType> {
  /** The long flag, e.g. `--max-pages`. */
  flag: string;
  /** What the flag takes, as `--help` shows it: `n`, `url`, `n|auto`; empty for a switch (see {@link switchedOn}). */
  arg: string;
  /** The environment variable read when the flag is not given. */
  env: string;
  /** One sentence for `--help` and the configuration reference. */
  description: string;
  /** Validates and converts a value given as text; its `.default()`, if any, is the setting's default. */
  schema: T;
  /** The flag may be given several times, each adding to the list (its variable holds the whole list). */
  repeatable?: boolean;
}

export type SettingTable = Record<string, Setting>;

/** The typed configuration a table describes. */
export type SettingValues<S extends SettingTable> = { [K in keyof S]: z.output<S[K]['schema']> };

export function setting<T extends z.ZodType>(
  flag: string,
  arg: string,
  env: string,
  schema: T,
  description: string,
  options: { repeatable?: boolean } = {},
): Setting<T> {
  return { flag, arg, env, schema, description, ...options };
}

/** A whole number in [min, max], from text or a number; one message for every way it can be wrong. */
export function integer(min: number, max?: number) {
  const error = `expected a whole number ${max === undefined ? `of at least ${min}` : `from ${min} to ${max}`}`;
  const n = z.coerce.number({ error }).int({ error }).min(min, { error });
  return max === undefined ? n : n.max(max, { error });
}

/** A number above zero, fractions allowed. */
export function positive() {
  const error = 'expected a number above 0';
  return z.coerce.number({ error }).positive({ error });
}

/** One of a fixed set of words. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `expected one of ${values.join(', ')}` });
}

/** `auto` (decided at start) or a value of `inner`. */
export function auto<T extends z.ZodType>(inner: T) {
  return z.union([z.literal('auto'), inner], {
    error: () => `expected auto or ${messageOf(inner)}`,
  });
}

function messageOf(schema: z.ZodType): string {
  const r = schema.safeParse('\u0000');
  return r.success ? 'a value' : (r.error.issues[0]?.message ?? 'a value').replace(/^expected /, '');
}

/**
 * A list: text is split at `separators` (an environment variable, one flag), an array (a repeated flag, or a value
 * already parsed) is taken as it is, so that parsing twice gives the same list.
 */
export function list<T extends z.ZodType>(separators: RegExp, item: T) {
  return z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(separators)
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    z.array(item),
  );
}

/** A switch: the flag alone turns it on; its variable is `true`, `false`, `1` or `0`. */
export function switchedOn() {
  const words: Record<string, boolean> = { true: true, '1': true, false: false, '0': false };
  return z.preprocess(
    (v) => (typeof v === 'string' ? (words[v.toLowerCase()] ?? v) : v),
    z.boolean({ error: 'expected true, false, 1 or 0' }),
  );
}

/** The default of a setting, or undefined when it has none (required, or decided at run time). */
export function defaultOf(s: Setting): string | number | boolean | string[] | undefined {
  const r = s.schema.safeParse(undefined);
  // Every default of the tables is a word, a number, a switch or a list of words.
  return r.success ? (r.data as string | number | boolean | string[] | undefined) : undefined;
}

/** The default as it would be written on a command line or in a manifest; an empty list has none. */
export function defaultText(s: Setting): string | undefined {
  const value = defaultOf(s);
  if (Array.isArray(value)) return value.length > 0 ? value.join(',') : undefined;
  return value === undefined ? undefined : String(value);
}

/**
 * Validates one value of a setting. Empty text counts as not set, so that `VAR=` in a manifest means the default.
 * Returns the typed value, or the reason it was refused.
 */
export function parseSetting(s: Setting, raw: unknown): { value: unknown } | { problem: string } {
  const r = s.schema.safeParse(raw === '' ? undefined : raw);
  if (r.success) return { value: r.data };
  return { problem: [...new Set(r.error.issues.map((i) => i.message))].join('; ') };
}
