import type { Command } from 'commander';
import { consoleConfig } from '../../shared/config.js';
import { ExitCode } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { consoleSettings } from '../../shared/settings/console-settings.js';
import { addSettings, settingValues } from '../../shared/settings/setting-options.js';

/** Settings the console passes on to its producer without using them itself: accepted, not in its help. */
const NOT_SHOWN = ['maxDocumentMb', 'attempts', 'resultTtlDays', 'allowUrlPrefixes', 'allowPrivateAddresses'];

export function registerConsoleCommand(program: Command): void {
  addSettings(program.command('console'), consoleSettings, NOT_SHOWN)
    .description('serve the web console: batches, their documents and results, the fleet, and the queues')
    .action(async (flags: Record<string, unknown>) => {
      const config = consoleConfig(settingValues(consoleSettings, flags));
      const log = createLogger(config.logLevel, 'docfleet-console', 2);
      // Loaded here so that the other commands do not pay for the web server at start.
      const { startConsole } = await import('./console-server.js');
      const server = await startConsole(config, log);
      process.stderr.write(`docfleet console on ${server.url}/\n`);
      const stop = () => void server.close().then(() => process.exit(ExitCode.ok));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
