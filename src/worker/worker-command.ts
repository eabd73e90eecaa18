import type { Command } from 'commander';
import { workerConfig } from '../shared/config.js';
import { addSettings, settingValues } from '../shared/settings/setting-options.js';
import { workerSettings } from '../shared/settings/worker-settings.js';
import { createLogger } from '../shared/logger.js';

export function registerWorkerCommand(program: Command): void {
  addSettings(program.command('worker'), workerSettings)
    .description('hold one GGUF model and process the jobs its role and tag route to it')
    .action(async (options: Record<string, unknown>) => {
      const config = workerConfig(settingValues(workerSettings, options));
      const log = createLogger(config.logLevel, 'docfleet-worker');
      // Loaded here so that producer commands do not pay for node-llama-cpp at start.
      const { FleetWorker } = await import('./fleet-worker.js');
      const worker = await FleetWorker.start(config, log);
      let signals = 0;
      const shutdown = (signal: string) => {
        // A second signal means "now": the jobs still running will be taken over after their lock expires.
        if (++signals > 1) process.exit(1);
        log.info({ signal, graceMs: config.graceMs }, 'shutting down: no new jobs, finishing running ones');
        void worker.close().then(
          () => process.exit(0),
          (err: unknown) => {
            log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
    });
}
