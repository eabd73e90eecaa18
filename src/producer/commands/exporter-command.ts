import type { Command } from 'commander';
import { exporterConfig } from '../../shared/config.js';
import { ExitCode } from '../../shared/errors.js';
import { inUse } from '../../shared/http-endpoint.js';
import { createLogger } from '../../shared/logger.js';
import { redactUrl } from '../../shared/redis-redaction.js';
import { exporterSettings } from '../../shared/settings/producer-settings.js';
import { addSettings, settingValues } from '../../shared/settings/setting-options.js';
import { startQueueExporter } from '../queue-exporter.js';
import type { Flags } from './producer-command.js';

/** `docfleet exporter`. */
export function registerExporterCommand(program: Command): void {
  addSettings(program.command('exporter'), exporterSettings)
    .description('serve queue depth per queue and state as Prometheus metrics, once for the whole fleet')
    .action(async (flags: Flags) => {
      const config = exporterConfig(settingValues(exporterSettings, flags));
      const log = createLogger(config.logLevel, 'docfleet-exporter', 2);
      const exporter = await startQueueExporter({
        redis: config,
        prefix: config.prefix,
        port: config.port,
        onAvailability: {
          unavailable: (reason) =>
            log.warn({ redis: redactUrl(config.redisUrl), reason: reason.message }, 'Redis unavailable'),
          available: () => log.info({ redis: redactUrl(config.redisUrl) }, 'Redis available again'),
        },
      }).catch((err: unknown) => {
        throw inUse(err, '--port', config.port);
      });
      process.stderr.write(`queue exporter on :${exporter.port}/metrics\n`);
      const stop = () => void exporter.close().then(() => process.exit(ExitCode.ok));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
