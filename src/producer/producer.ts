import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Queue, type JobsOptions } from 'bullmq';
import { DocumentAccess } from '../shared/access/document-access.js';
import { MiB, type ProducerConfig } from '../shared/config.js';
import { ConfigError, isRedisOutOfMemory } from '../shared/errors.js';
import type { DocumentRef, Tag, TaskName, TaskParams } from '../shared/job-types.js';
import type { BatchMeta } from '../shared/batch-store.js';
import type { Redis } from 'ioredis';
import { RedisConnection, type RedisUse } from '../shared/redis-connection.js';
import { atMemoryLimit, RedisOutOfMemoryError } from '../shared/redis-out-of-memory.js';
import { ResultStore } from '../shared/result-store.js';
import { taskLines, type TaskLine } from './task-lines.js';
import { checkParams } from '../shared/tasks/task-catalog.js';
import { rootsOf, walkDocuments, type WalkItem } from './document-walker.js';
import { documentJobOptions } from '../shared/job-options.js';
import { checkedRefs } from './checked-refs.js';
import { writeBatch } from './write-batch.js';

export interface SubmitOptions {
  tasks: TaskName[];
  /** @defaultValue `any` */
  tag?: Tag;
  /** BullMQ priority: 1 is the most urgent; unset jobs run before prioritised ones. */
  priority?: number;
  params?: TaskParams;
  /** Called for each input that is not enqueued, with the reason. */
  onRefused?: (input: string, reason: string) => void;
  /** Called after each document is enqueued (for progress bars). */
  onDocument?: (ref: DocumentRef) => void;
  /** A label for `docfleet batches`. */
  name?: string;
  /** What was submitted, for `docfleet batches` (`submit` fills it in from its inputs). */
  inputs?: BatchMeta['inputs'];
}

export interface SubmitDocumentsOptions extends SubmitOptions {
  /**
   * The directories the documents lie under, recorded in the batch: workers then read its files only under
   * them (as well as under their own roots), and a file reference outside them is refused here.
   * @defaultValue none: workers apply their own roots only
   */
  roots?: string[];
}

export interface SubmitResult {
  batch: string;
  /** Jobs created by this submission. */
  jobs: number;
  /**
   * Lines (document × task) that needed no new job: the same content, task and parameters were already queued
   * or done, or came twice in this submission. Every line still gets its result.
   */
  duplicates: number;
  refused: number;
}

/** Inputs a batch lists in `docfleet batches`. */
const INPUTS_LISTED = 3;
/**
 * Enqueues documents as jobs. Owns one Redis connection shared by every queue it touches.
 * `close()` when done.
 */
export class Producer {
  readonly connection: RedisConnection;
  readonly redis: Redis;
  readonly store: ResultStore;
  private readonly queues = new Map<string, Queue>();
  private access?: Promise<DocumentAccess>;

  /**
   * @param use `one-shot` (the CLI's) gives up once Redis has been away for `config.redisTimeoutMs`; a
   * long-running service that embeds a producer passes `service` to wait out outages instead.
   */
  constructor(
    readonly config: ProducerConfig,
    use: RedisUse = 'one-shot',
  ) {
    this.connection = new RedisConnection(config, use);
    this.redis = this.connection.client;
    this.store = new ResultStore(this.redis, config.prefix, Math.round(config.resultTtlDays * 86_400));
  }

  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      // Failures reach the caller through the command that failed; the queue's own event would be a repeat.
      q = new Queue(name, { connection: this.redis, prefix: this.config.prefix }).on('error', () => {});
      this.queues.set(name, q);
    }
    return q;
  }

  /**
   * Enqueues the documents named by `inputs` (files, directories walked recursively, http(s) URLs under the
   * allowed prefixes) as one batch, which records the local inputs as the roots its files must lie under.
   */
  async submit(inputs: string[], opts: SubmitOptions): Promise<SubmitResult> {
    const access = await this.urlAccess();
    const roots = rootsOf(inputs);
    return this.submitItems(
      walkDocuments(inputs, this.config.maxDocumentMb * MiB, access),
      { inputs: { first: inputs.slice(0, INPUTS_LISTED), count: inputs.length }, ...opts },
      roots,
    );
  }

  /**
   * Enqueues documents whose references (content hash included) the caller already has — a document store
   * that keeps sha256s, say — as one batch, without reading them again. The references get the checks
   * `submit` makes of what it reads (document names, size, allowed URLs); the workers must be allowed to
   * read each `uri`.
   */
  async submitDocuments(
    refs: Iterable<DocumentRef> | AsyncIterable<DocumentRef>,
    opts: SubmitDocumentsOptions,
  ): Promise<SubmitResult> {
    const access = await this.urlAccess();
    const roots = opts.roots?.map((root) => path.resolve(root));
    return this.submitItems(checkedRefs(refs, this.config.maxDocumentMb * MiB, access, roots), opts, roots);
  }

  /** Where `submit` may fetch URLs from; local files are the submitter's own to read. */
  private urlAccess(): Promise<DocumentAccess> {
    this.access ??= DocumentAccess.create({
      urlPrefixes: this.config.allowUrlPrefixes,
      allowPrivateAddresses: this.config.allowPrivateAddresses,
    });
    return this.access;
  }

  private async submitItems(
    items: AsyncIterable<WalkItem>,
    opts: SubmitOptions,
    roots: string[] | undefined,
  ): Promise<SubmitResult> {
    const tag = opts.tag ?? 'any';
    const params = opts.params ?? {};
    // Checked here so that a bad parameter fails the submission, not every job of the batch in the workers.
    for (const task of opts.tasks) {
      const checked = checkParams(task, params);
      if (!checked.ok) throw new ConfigError(`invalid parameters for ${checked.problem}`);
    }
    const lines = taskLines(opts.tasks, tag, params);
    const meta: BatchMeta = {
      id: newBatchId(),
      ...(opts.name ? { name: opts.name } : {}),
      createdAt: Date.now(),
      tasks: opts.tasks,
      tag,
      params,
      inputs: opts.inputs ?? { first: [], count: 0 },
      documents: 0,
      jobs: 0,
      duplicates: 0,
      refused: 0,
      cancelled: false,
      submitting: true,
      roots,
    };
    // A Redis already full would take part of the batch and refuse the rest: better to write nothing.
    if (await atMemoryLimit(this.redis)) throw new RedisOutOfMemoryError('no batch was created');
    try {
      // Created first so that workers and `status` see the batch while it is still being submitted.
      await this.store.batches.create(meta);
      await writeBatch(this, meta, lines, items, opts);
      meta.submitting = false;
      await this.store.batches.update(meta);
    } catch (err) {
      // Whatever failed, no half batch stays behind: nobody would know its id.
      const undone = this.discardBatch(meta, lines);
      if (!isRedisOutOfMemory(err)) {
        await undone.catch(() => undefined);
        throw err;
      }
      const clean = await undone.then(
        () => true,
        () => false,
      );
      throw new RedisOutOfMemoryError(
        clean ? 'the batch was not created' : `batch ${meta.id} is incomplete (its cleanup failed too)`,
        { cause: err },
      );
    }
    return { batch: meta.id, jobs: meta.jobs, duplicates: meta.duplicates, refused: meta.refused };
  }

  /**
   * Undoes a submission page by page: the batch no longer covers its jobs, the jobs no other batch covers
   * and that have not finished are removed from its queues, then the batch itself goes.
   */
  private async discardBatch(meta: BatchMeta, lines: TaskLine[]): Promise<void> {
    for await (const page of this.store.batches.documents(meta.id)) {
      const queueOf = new Map(page.flatMap((doc) => lines.map((l) => [l.idOf(doc.sha256), l.queue] as const)));
      const orphans = await this.store.batches.removeLines(meta.id, [...queueOf.keys()]);
      await Promise.all(orphans.map((id) => this.queue(queueOf.get(id)!).remove(id)));
    }
    await this.store.batches.delete(meta.id);
  }

  jobOptions(jobId: string, priority?: number): JobsOptions {
    return documentJobOptions(jobId, this.config.attempts, priority);
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.connection.close();
  }
}

function newBatchId(): string {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  return `${day}-${randomBytes(5).toString('hex')}`;
}
