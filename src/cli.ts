#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ExitCode, UserError } from './shared/errors.js';
import { registerProducerCommands } from './producer/producer-commands.js';
import { registerWorkerCommand } from './worker/worker-command.js';

// `docfleet results … | head` closes the pipe early; that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(ExitCode.ok);
  throw err;
});

const program = new Command('docfleet')
  .description('batch document processing with small language models on a BullMQ worker fleet')
  // Usage errors end as the others do, in the catch below, with exit code 2; subcommands inherit both settings.
  .exitOverride()
  .configureOutput({ outputError: (line, write) => write(`docfleet: ${line.replace(/^error: /, '')}`) });
registerProducerCommands(program);
registerWorkerCommand(program);

try {
  await program.parseAsync();
} catch (err) {
  process.exit(exitCodeOf(err));
}

/** Reports an error the way its kind asks for and returns the exit code (docs/operations.md lists them). */
function exitCodeOf(err: unknown): ExitCode {
  // Commander has printed its one line already (or the help, which exits 0).
  if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  const debug = wantsDebug();
  if (err instanceof UserError) {
    process.stderr.write(`docfleet: ${err.message}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  // Not something the user can fix: a bug or an unforeseen failure. Still one line unless asked for more.
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(
    debug && err instanceof Error
      ? `${err.stack ?? message}\n`
      : `docfleet: ${message} (LOG_LEVEL=debug shows where it happened)\n`,
  );
  return ExitCode.failed;
}

/** LOG_LEVEL=debug (or trace), by variable or flag; read here because the command's options may not have parsed. */
function wantsDebug(): boolean {
  const args = process.argv;
  const i = args.lastIndexOf('--log-level');
  const flag = i >= 0 ? args[i + 1] : args.find((a) => a.startsWith('--log-level='))?.slice('--log-level='.length);
  return ['debug', 'trace'].includes(flag ?? process.env.LOG_LEVEL ?? '');
}
