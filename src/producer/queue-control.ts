import { UserError } from '../shared/errors.js';
import { allQueueNames } from '../shared/queue-layout.js';
import type { Producer } from './producer.js';

/**
 * Pauses or resumes queues for the whole fleet: a paused queue keeps its jobs and takes new ones, but no worker
 * starts one until it is resumed; jobs already running finish.
 */
export async function setQueuesPaused(p: Producer, names: string[], paused: boolean): Promise<void> {
  await Promise.all(names.map((name) => (paused ? p.queue(name).pause() : p.queue(name).resume())));
}

/** The queues a command names: one of the layout's, or all of them; anything else is refused in one line. */
export function namedQueues(option: string, name: string | undefined, all: boolean): string[] {
  const valid = allQueueNames();
  if (all && name === undefined) return valid;
  if (all || name === undefined) throw new UserError(`${option}: name one queue or give --all, not both or neither`);
  if (!valid.includes(name)) throw new UserError(`${option}: no queue "${name}"; the queues are ${valid.join(', ')}`);
  return [name];
}
