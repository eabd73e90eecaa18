#!/usr/bin/env node
import { ExitCode } from './shared/errors.js';
import { cliProgram, runProgram } from './shared/cli-program.js';
import { registerConsoleCommand } from './producer/console/console-command.js';
import { packageVersion } from './shared/package-version.js';
import { registerProducerCommands } from './producer/producer-commands.js';
import { registerWorkerCommand } from './worker/worker-command.js';

// `docfleet results … | head` closes the pipe early; that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(ExitCode.ok);
  throw err;
});

const program = cliProgram('docfleet')
  .version(packageVersion())
  .description('batch document processing with small language models on a BullMQ worker fleet');
registerProducerCommands(program);
registerWorkerCommand(program);
registerConsoleCommand(program);
await runProgram(program);
