import { Command, CommanderError } from 'commander';
import { ExitCode, UserError } from './errors.js';

/**
 * A command-line program that ends every way the same: usage errors and UserErrors as one line on stderr with their
 * exit code (docs/operations.md lists them), stack traces only at LOG_LEVEL=debug.
 */
export function cliProgram(name: string): Command {
  // Subcommands added later inherit both settings.
  return new Command(name)
    .exitOverride()
    .configureOutput({ outputError: (line, write) => write(`${name}: ${line.replace(/^error: /, '')}`) });
}

/** Parses the command line and runs the command; on an error, reports it and exits with its code. */
export async function runProgram(program: Command): Promise<void> {
  try {
    await program.parseAsync();
  } catch (err) {
    process.exit(exitCodeOf(program.name(), err));
  }
}

function exitCodeOf(name: string, err: unknown): ExitCode {
  // Commander has printed its one line already (or the help, which exits 0).
  if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  const debug = wantsDebug();
  if (err instanceof UserError) {
    process.stderr.write(`${name}: ${err.message}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  // Not something the user can fix: a bug or an unforeseen failure. Still one line unless asked for more.
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(
    debug && err instanceof Error
      ? `${err.stack ?? message}\n`
      : `${name}: ${message} (LOG_LEVEL=debug shows where it happened)\n`,
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
