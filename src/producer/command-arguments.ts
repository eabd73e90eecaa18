import { open, readFile } from 'node:fs/promises';
import type { WriteStream } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { UserError } from '../shared/errors.js';
import { TASKS, type TaskName } from '../shared/job-types.js';

/**
 * What the producer commands make of their arguments: each refusal is a one-line UserError (or commander's
 * InvalidArgumentError, which commander words itself) that names the option and says what it expects.
 */

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

export function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number of at least 0');
  return n;
}

const isTask = (word: string): word is TaskName => (TASKS as readonly string[]).includes(word);

/**
 * `--task` takes task names, comma-separated (`--task summarize,extract`) or as separate words (`--task summarize
 * extract -- inputs…`). Commander hands every word after `--task` up to the next option or `--` to it, so the first
 * word that is no task name begins the inputs: `submit --task summarize contract.pdf` reads as it is meant.
 */
export function tasksAndInputs(words: string[], inputs: string[]): { tasks: TaskName[]; inputs: string[] } {
  const tasks: TaskName[] = [];
  let i = 0;
  for (; i < words.length; i++) {
    const names = words[i]!.split(',').filter(Boolean);
    if (!names.every(isTask)) break;
    tasks.push(...names);
  }
  if (tasks.length === 0) {
    throw new UserError(`--task: "${words[0] ?? ''}" is not a task; expected ${TASKS.join(', ')} (comma-separated)`);
  }
  const rest = [...words.slice(i), ...inputs];
  if (rest.length === 0) throw new UserError('submit: no inputs; name the files, directories or URLs to submit');
  return { tasks: [...new Set(tasks)], inputs: rest };
}

/** A JSON file named by an option, e.g. `--schema`. */
export async function readJsonFile(option: string, file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`${option} ${file}: cannot read it (${systemReason(err)}); give the path of a JSON file`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UserError(`${option} ${file}: not valid JSON (${(err as Error).message})`);
  }
}

/** Opens the file an option names for writing, so that a missing directory is reported before any work. */
export async function openOutput(option: string, file: string): Promise<WriteStream> {
  try {
    return (await open(file, 'w')).createWriteStream();
  } catch (err) {
    throw cannotWrite(option, file, err);
  }
}

export function cannotWrite(option: string, file: string, err: unknown): UserError {
  return new UserError(
    `${option} ${file}: cannot write it (${systemReason(err)}); check that its directory exists and is writable`,
  );
}

/** `no such file or directory` out of `ENOENT: no such file or directory, open '/x'`: the path is named already. */
function systemReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^E[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
}
