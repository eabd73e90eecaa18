import type { Command } from 'commander';
import { ExitCode, UserError } from '../../shared/errors.js';
import { batchStatus, cancelBatch, recentBatches, retryBatch } from '../batch-control.js';
import { batchFailures, type BatchFailures } from '../batch-failures.js';
import { batchListing, formatBatches } from '../batch-listing.js';
import { positiveInteger } from '../command-arguments.js';
import { print, producerCommand, withProducer, type Flags } from './producer-command.js';
import { followBatch, statusLine } from './status-watch.js';

/** `status --watch` of a batch that did not complete every line: exit code 1, and where to look next. */
class BatchNotCompletedError extends UserError {
  override name = 'BatchNotCompletedError';
  override readonly exitCode = ExitCode.failed;
}

/** `docfleet status`, `batches`, `failures`, `cancel` and `retry`: one batch, or the recent ones. */
export function registerBatchCommands(program: Command): void {
  producerCommand(program, 'status')
    .description('counts of a batch: total / completed / failed / cancelled / pending')
    .argument('<batch>')
    .option('--json', 'print as JSON (with --watch: one JSON line per poll)')
    .option(
      '--watch',
      'follow the batch until it ends: a progress bar at a terminal, else JSON lines; exit 1 unless every line completed',
    )
    .option('--interval-ms <n>', 'with --watch: time between two reads of the batch (default 1000)', positiveInteger)
    .action(async (batch: string, flags: Flags) => {
      if (!flags.watch) {
        const s = await withProducer(flags, (p) => batchStatus(p, batch));
        if (flags.json) print(s);
        else process.stdout.write(statusLine(s));
        return;
      }
      const intervalMs = flags.intervalMs as number | undefined;
      const s = await withProducer(flags, (p) => followBatch(p, batch, { json: Boolean(flags.json), intervalMs }));
      if (s.completed < s.total) {
        throw new BatchNotCompletedError(
          `batch ${batch}: ${s.failed} failed and ${s.cancelled} cancelled of ${s.total}` +
            (s.failed > 0 ? `; \`docfleet failures ${batch}\` lists the failures` : ''),
        );
      }
    });

  producerCommand(program, 'batches')
    .description('the most recent batches, newest first, with their counts and age')
    .option('--limit <n>', 'how many (default 20)', positiveInteger)
    .option('--json', 'one JSON line per batch')
    .action(async (flags: Flags) => {
      const list = await withProducer(flags, (p) => recentBatches(p, (flags.limit as number | undefined) ?? 20));
      if (flags.json) for (const b of list) print(batchListing(b));
      else process.stdout.write(formatBatches(list.map(batchListing), Date.now()));
    });

  producerCommand(program, 'failures')
    .description('the failed documents of a batch, grouped by error category, with their reasons')
    .argument('<batch>')
    .option('--json', 'print as one JSON object')
    .action(async (batch: string, flags: Flags) => {
      const failures = await withProducer(flags, (p) => batchFailures(p, batch));
      if (flags.json) print(failures);
      else process.stdout.write(formatFailures(failures));
    });

  producerCommand(program, 'cancel')
    .description('remove a batch’s queued jobs; running ones finish')
    .argument('<batch>')
    .action(async (batch: string, flags: Flags) => {
      const r = await withProducer(flags, (p) => cancelBatch(p, batch));
      process.stdout.write(`cancelled ${r.cancelled} queued jobs; ${r.running} already running will finish\n`);
    });

  producerCommand(program, 'retry')
    .description('re-enqueue a batch’s failed jobs')
    .argument('<batch>')
    .action(async (batch: string, flags: Flags) => {
      const r = await withProducer(flags, (p) => retryBatch(p, batch));
      process.stdout.write(`retried ${r.retried} failed jobs\n`);
    });
}

/** A heading per category, then one line per failed document: its name, task and reason. */
function formatFailures(f: BatchFailures): string {
  if (f.failed === 0) return `batch ${f.batch}: no failures\n`;
  const out = [`batch ${f.batch}: ${f.failed} failed`];
  for (const group of f.groups) {
    out.push('', `${group.category} (${group.documents.length})`);
    for (const d of group.documents) out.push(`  ${d.name} [${d.task}]: ${d.message}`);
  }
  return out.join('\n') + '\n';
}
