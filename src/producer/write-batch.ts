import type { BatchMeta } from '../shared/batch-store.js';
import type { DocumentRef, JobData } from '../shared/job-types.js';
import { queuesForRole, roleForTask, type ModelRole } from '../shared/queue-layout.js';
import type { WalkItem } from './document-walker.js';
import type { Producer, SubmitOptions } from './producer.js';
import type { TaskLine } from './task-lines.js';

interface PendingJob {
  id: string;
  queue: string;
  data: JobData;
}

const FLUSH_EVERY = 250;
/** The first flush is small and flushes double up to FLUSH_EVERY, so workers start while the walk goes on. */
const FIRST_FLUSH = 16;
/**
 * KEYS are key prefixes, ARGV job ids: for each id '1' if a key of any prefix exists for it, else '0'.
 * The keys are put together here, as BullMQ's own scripts do, to send Redis one short id per job.
 */
const ANY_EXISTS = `
local found = {}
for i = 1, #ARGV do
  local hit = '0'
  for k = 1, #KEYS do
    if redis.call('EXISTS', KEYS[k] .. ARGV[i]) == 1 then hit = '1' break end
  end
  found[i] = hit
end
return table.concat(found)
`;
/** Flushes in flight at once; the walk waits for one to finish beyond that. */
const FLUSHES_AT_ONCE = 3;

/** Records every document of the walk in the batch and enqueues the jobs that do not exist yet. */
export async function writeBatch(
  producer: Producer,
  meta: BatchMeta,
  lines: TaskLine[],
  items: AsyncIterable<WalkItem>,
  opts: SubmitOptions,
): Promise<void> {
  let docs: DocumentRef[] = [];
  // Several flushes run at once, so Node builds the next one while Redis writes the last. Redis may not
  // have a running flush's jobs yet, so their ids are checked here: a later flush leaves them out.
  const running = new Set<Promise<void>>();
  const runningIds = new Set<string>();
  let flushAt = FIRST_FLUSH;
  let failed: Error | undefined;
  const flush = () => {
    const lineIds: string[] = [];
    const candidates: PendingJob[] = [];
    for (const doc of docs) {
      for (const { task, idOf, queue } of lines) {
        const id = idOf(doc.sha256);
        lineIds.push(id);
        if (runningIds.has(id)) continue;
        runningIds.add(id);
        candidates.push({ id, queue, data: { batchId: meta.id, doc, task, params: meta.params } });
      }
    }
    const own = docs;
    docs = [];
    if (own.length === 0) return;
    meta.documents += own.length;
    const done: Promise<void> = enqueue(producer, meta.id, own, lineIds, candidates, opts.priority)
      .then(
        (created) => void (meta.jobs += created),
        (err: unknown) => void (failed ??= err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => {
        // Written (or failed): from now on Redis answers for these ids.
        for (const j of candidates) runningIds.delete(j.id);
        running.delete(done);
      });
    running.add(done);
  };
  for await (const item of items) {
    if (failed !== undefined) break;
    if ('refused' in item) {
      meta.refused++;
      opts.onRefused?.(item.refused, item.reason);
      continue;
    }
    docs.push(item.ref);
    opts.onDocument?.(item.ref);
    if (docs.length * lines.length >= flushAt) {
      flushAt = Math.min(FLUSH_EVERY, flushAt * 2);
      flush();
      if (running.size >= FLUSHES_AT_ONCE) await Promise.race(running);
    }
  }
  if (failed === undefined) flush();
  await Promise.all(running);
  if (failed !== undefined) throw failed;
  meta.duplicates = meta.documents * lines.length - meta.jobs;
}

/**
 * Records the documents and their lines first, so that a job a worker finishes at once already counts
 * for this batch; then adds the jobs that do not exist yet. Returns how many it created.
 */
async function enqueue(
  producer: Producer,
  batchId: string,
  docs: DocumentRef[],
  lineIds: string[],
  candidates: PendingJob[],
  priority?: number,
): Promise<number> {
  await producer.store.batches.addLines(batchId, docs, lineIds);
  const known = await existing(producer, candidates);
  const fresh = candidates.filter((_, i) => !known[i]);
  const byQueue = new Map<string, PendingJob[]>();
  for (const j of fresh) {
    const list = byQueue.get(j.queue) ?? [];
    list.push(j);
    byQueue.set(j.queue, list);
  }
  // Each queue's jobs in one MULTI, the queues in parallel.
  await Promise.all(
    [...byQueue].map(([name, list]) =>
      producer
        .queue(name)
        .addBulk(list.map((j) => ({ name: j.data.task, data: j.data, opts: producer.jobOptions(j.id, priority) }))),
    ),
  );
  return fresh.length;
}

/**
 * A job exists if it has a stored result or is in any queue of its role (whatever its tag). One script
 * call per role looks up each job's result key and its key in each of the role's queues.
 */
async function existing(producer: Producer, jobs: PendingJob[]): Promise<boolean[]> {
  const found = jobs.map(() => false);
  const byRole = new Map<ModelRole, number[]>();
  jobs.forEach((j, i) => {
    const role = roleForTask(j.data.task);
    const indexes = byRole.get(role) ?? [];
    indexes.push(i);
    byRole.set(role, indexes);
  });
  await Promise.all(
    [...byRole].map(async ([role, indexes]) => {
      const prefixes = [
        producer.store.resultKeyOf(''),
        ...queuesForRole(role).map((queue) => `${producer.config.prefix}:${queue}:`),
      ];
      const hits = String(
        await producer.redis.eval(ANY_EXISTS, prefixes.length, ...prefixes, ...indexes.map((i) => jobs[i]!.id)),
      );
      indexes.forEach((i, k) => (found[i] = hits[k] === '1'));
    }),
  );
  return found;
}
