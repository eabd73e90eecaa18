import { Option, type Command } from 'commander';
import { collect, withUrlAccess } from '../shared/access/access-flags.js';
import { loadWorkerConfig, type Flags } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';

export function registerWorkerCommand(program: Command, withConnection: (cmd: Command) => Command): void {
  withUrlAccess(withConnection(program.command('worker')))
    .description('hold one GGUF model and process the jobs its role and tag route to it')
    .option('--model <file.gguf>', 'the model to hold (env MODEL_PATH)')
    .addOption(
      new Option('--device <device>', 'where inference runs (env DOCFLEET_DEVICE, default cpu)').choices([
        'cpu',
        'gpu',
      ]),
    )
    .addOption(
      new Option('--tag <tag>', 'which tagged jobs to take (env DOCFLEET_TAG, default: the device)').choices([
        'cpu',
        'gpu',
      ]),
    )
    .addOption(
      new Option('--role <role>', 'generate (summarize, extract) or embed (env DOCFLEET_ROLE, default auto)').choices([
        'auto',
        'generate',
        'embed',
      ]),
    )
    .option('--concurrency <n>', 'jobs at once = context sequences (env DOCFLEET_CONCURRENCY, default 4)')
    .option(
      '--threads <n|auto>',
      'CPU threads (env DOCFLEET_THREADS, default auto: sized and tuned from the CPU budget)',
    )
    .option(
      '--contexts <n|auto>',
      'llama.cpp contexts the sequences are split over (env DOCFLEET_CONTEXTS, default auto: as many as the CPU budget holds at the tuned threads)',
    )
    .option('--context-size <n|auto>', 'tokens per sequence (env DOCFLEET_CONTEXT_SIZE, default auto)')
    .option('--gpu-layers <n|auto|max>', 'layers offloaded to the GPU (env DOCFLEET_GPU_LAYERS, default auto)')
    .option('--max-pages <n>', 'refuse PDFs with more pages (env DOCFLEET_MAX_PAGES, default 2000)')
    .option('--max-document-mb <n>', 'refuse larger documents (env DOCFLEET_MAX_DOCUMENT_MB, default 50)')
    .option(
      '--documents-root <dir>',
      'read only files under this directory, symbolic links resolved; repeatable (env DOCUMENTS_ROOTS, comma- or colon-separated; default: none, no local file is read)',
      collect,
    )
    .option(
      '--parse-timeout-ms <n>',
      'hard limit on PDF text extraction (env DOCFLEET_PARSE_TIMEOUT_MS, default 60000)',
    )
    .option('--parse-memory-mb <n>', 'heap limit of PDF text extraction (env DOCFLEET_PARSE_MEMORY_MB, default 1024)')
    .option('--grace-ms <n>', 'on SIGTERM, time running jobs get to finish (env DOCFLEET_GRACE_MS, default 30000)')
    .option(
      '--lock-ms <n>',
      'job lock duration; a dead worker’s jobs move on after it (env DOCFLEET_LOCK_MS, default 30000)',
    )
    .option(
      '--metrics-port <port>',
      '/metrics, /healthz, /readyz port, 0 = off (env DOCFLEET_METRICS_PORT, default 9464)',
    )
    .action(async (flags: Flags) => {
      const config = loadWorkerConfig(flags);
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
