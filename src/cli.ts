#!/usr/bin/env node
import { Command } from 'commander';
import { ConfigError, RedisUnavailableError } from './shared/errors.js';
import { BatchNotFoundError } from './producer/batch-control.js';
import { registerProducerCommands, withConnection } from './producer/producer-commands.js';
import { registerWorkerCommand } from './worker/worker-command.js';

// `docfleet results … | head` closes the pipe early; that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('docfleet')
  .description('batch document processing with small language models on a BullMQ worker fleet')
  .showHelpAfterError();
registerProducerCommands(program);
registerWorkerCommand(program, withConnection);

try {
  await program.parseAsync();
} catch (err) {
  // Errors the user can fix get one clear line; anything else is a bug and keeps its stack.
  if (err instanceof ConfigError || err instanceof BatchNotFoundError) {
    process.stderr.write(`docfleet: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof RedisUnavailableError) {
    process.stderr.write(`docfleet: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  throw err;
}
