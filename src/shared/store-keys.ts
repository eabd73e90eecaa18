/**
 * Every Redis key docfleet keeps beside BullMQ's own, in one place. Batch ids and job ids never contain ':',
 * so these keys cannot collide with each other or with BullMQ's `{prefix}:{queue}:…`; a worker id may (it is
 * `host:pid`), but it is only ever the last part of its key.
 */
export class StoreKeys {
  constructor(readonly prefix: string) {}

  /** Hash: a batch's description (`meta`, JSON) and its counters (`lines`, `completed`, `failed`, `cancelled`). */
  batch(id: string): string {
    return `${this.prefix}:batch:${id}`;
  }

  /** List: each document a batch was given, in submission order, duplicates included (DocumentRef JSON). */
  batchDocuments(id: string): string {
    return `${this.prefix}:batch:${id}:docs`;
  }

  /** Sorted set: batch ids by creation time, for `docfleet batches`. */
  batchIndex(): string {
    return `${this.prefix}:batches`;
  }

  /** Hash: batch id → how many of that batch's lines this job answers. */
  jobBatches(jobId: string): string {
    return `${this.prefix}:job-batches:${jobId}`;
  }

  /** Hash: a finished job's stored outcome. */
  result(jobId: string): string {
    return `${this.prefix}:result:${jobId}`;
  }

  /** Sorted set: worker ids by the time their heartbeat expires, so that listing workers never scans keys. */
  workerIndex(): string {
    return `${this.prefix}:workers`;
  }

  /** String with a TTL: a worker's last heartbeat (WorkerBeat JSON); it expires when the worker stops beating. */
  worker(id: string): string {
    return `${this.prefix}:worker:${id}`;
  }
}
