import type { Command } from 'commander';
import { registerBatchCommands } from './commands/batch-commands.js';
import { registerExporterCommand } from './commands/exporter-command.js';
import { registerQueueCommands } from './commands/queue-commands.js';
import { registerResultsCommand } from './commands/results-command.js';
import { registerSubmitCommand } from './commands/submit-command.js';

/** Every command of the producer side, each group from its file in commands/. */
export function registerProducerCommands(program: Command): void {
  registerSubmitCommand(program);
  registerBatchCommands(program);
  registerResultsCommand(program);
  registerQueueCommands(program);
  registerExporterCommand(program);
}
