import cliProgress from 'cli-progress';
import type { BatchStatus } from '../batch-control.js';
import { watchBatch, type BatchProgress, type WatchOptions } from '../batch-watch.js';
import type { Producer } from '../producer.js';
import { print } from './producer-command.js';

/** `docfleet status`'s line for a batch. */
export function statusLine(s: BatchStatus): string {
  return (
    `batch ${s.batch}${s.name ? ` (${s.name})` : ''}: total ${s.total}, completed ${s.completed}, ` +
    `failed ${s.failed}, cancelled ${s.cancelled}, pending ${s.pending}` +
    `${s.submitting ? ' (still being submitted)' : s.done ? ' (done)' : ''}\n`
  );
}

/**
 * Follows a batch to its end: a progress bar on stderr for a person at a terminal, else one JSON line per poll
 * on stdout for a script (the last with `done: true`). Returns the batch's last status.
 */
export async function followBatch(
  p: Producer,
  id: string,
  opts: WatchOptions & { json: boolean },
): Promise<BatchProgress> {
  const bar =
    process.stderr.isTTY && !opts.json
      ? new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format:
              '{bar} {percentage}% | {value}/{total} | {completed} done, {failed} failed | {perSecond}/s | ETA {etaText}',
            // The counters move only when a poll reads them; redrawing more often would show nothing new.
            fps: 2,
            // A batch whose first documents are still being recorded has no lines yet: 0%, not 100%.
            emptyOnZero: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  let last: BatchProgress | undefined;
  try {
    for await (const progress of watchBatch(p, id, opts)) {
      last = progress;
      if (!bar) {
        print(progress);
        continue;
      }
      const payload = {
        completed: progress.completed,
        failed: progress.failed,
        perSecond: progress.perSecond,
        etaText: eta(progress.etaSeconds),
      };
      if (!bar.isActive) bar.start(progress.total, progress.finished, payload);
      // A batch still being submitted grows.
      else if (bar.getTotal() !== progress.total) bar.setTotal(progress.total);
      bar.update(progress.finished, payload);
    }
  } finally {
    bar?.stop();
  }
  if (bar) process.stdout.write(statusLine(last!));
  return last!;
}

function eta(seconds: number | undefined): string {
  if (seconds === undefined) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
