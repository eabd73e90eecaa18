import type { Command } from 'commander';
import { plainTable } from '../plain-table.js';
import { namedQueues, setQueuesPaused } from '../queue-control.js';
import { OVERVIEW_STATES, queueOverview, type QueueOverview } from '../queue-overview.js';
import { print, producerCommand, withProducer, type Flags } from './producer-command.js';

/** `docfleet queues`, `pause` and `resume`: the fleet's queues, as BullMQ keeps them. */
export function registerQueueCommands(program: Command): void {
  producerCommand(program, 'queues')
    .description('every queue: jobs per state, workers connected, and whether it is paused')
    .option('--json', 'one JSON line per queue')
    .action(async (flags: Flags) => {
      const queues = await withProducer(flags, queueOverview);
      if (flags.json) for (const q of queues) print(q);
      else process.stdout.write(formatQueues(queues));
    });

  for (const [name, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    producerCommand(program, name)
      .description(
        paused
          ? 'stop workers from starting jobs of a queue (running jobs finish; new jobs are still accepted)'
          : 'let workers take the jobs of a paused queue again',
      )
      .argument('[queue]', 'a queue name, as `docfleet queues` lists them')
      .option('--all', `${name} every queue`)
      .action(async (queue: string | undefined, flags: Flags) => {
        const names = namedQueues(name, queue, Boolean(flags.all));
        await withProducer(flags, (p) => setQueuesPaused(p, names, paused));
        process.stdout.write(`${paused ? 'paused' : 'resumed'} ${names.join(', ')}\n`);
      });
  }
}

/** A plain table: a column per state, the workers, and PAUSED where it is. */
function formatQueues(queues: QueueOverview[]): string {
  const header = ['QUEUE', ...OVERVIEW_STATES.map((s) => s.toUpperCase()), 'WORKERS', 'PAUSED'];
  const rows = queues.map((q) => [
    q.queue,
    ...OVERVIEW_STATES.map((s) => String(q.counts[s])),
    String(q.workers),
    q.paused ? 'yes' : 'no',
  ]);
  return plainTable(header, rows);
}
