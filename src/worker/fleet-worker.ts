import os from 'node:os';
import { FlowProducer, type Job } from 'bullmq';
import { DocumentAccess } from '../shared/access/document-access.js';
import { MiB, type WorkerConfig } from '../shared/config.js';
import { detectCpuBudget } from '../shared/cpu-budget.js';
import { inUse, type HttpEndpoint } from '../shared/http-endpoint.js';
import type { JobData } from '../shared/job-types.js';
import type { Logger } from '../shared/logger.js';
import { queuesServedBy } from '../shared/queue-layout.js';
import { RedisConnection } from '../shared/redis-connection.js';
import { ResultStore } from '../shared/result-store.js';
import { packageVersion } from '../shared/package-version.js';
import { settleWithin } from '../shared/settle-within.js';
import { loadDocument } from './text/document-loader.js';
import { startHealthServer } from './health-server.js';
import { Heartbeat } from './heartbeat.js';
import { createProcessor } from './queue/job-processor.js';
import { ModelHost } from './model/model-host.js';
import { PdfTextExtractor } from './text/pdf-text.js';
import { QueueConsumer } from './queue/queue-consumer.js';
import { RedisWriteWatch } from './queue/redis-write-watch.js';
import { SlotScheduler } from './queue/slot-scheduler.js';
import { TaskRunner } from './tasks/task-runner.js';
import { WorkerMetrics } from './worker-metrics.js';

/**
 * One worker process: one model, one pool of sequences, the queues that model serves.
 * Everything it opens it closes in `close()`, in reverse order.
 */
export class FleetWorker {
  private closing?: Promise<void>;

  private constructor(
    private readonly log: Logger,
    private readonly config: WorkerConfig,
    private readonly parts: {
      metrics: WorkerMetrics;
      health?: HttpEndpoint;
      host?: ModelHost;
      redis?: RedisConnection;
      extractor?: PdfTextExtractor;
      flows?: FlowProducer;
      consumers?: QueueConsumer[];
      scheduler?: SlotScheduler;
      writes?: RedisWriteWatch;
      heartbeat?: Heartbeat;
    },
  ) {}

  get queues(): string[] {
    return this.parts.consumers?.map((c) => c.name) ?? [];
  }

  static async start(config: WorkerConfig, log: Logger): Promise<FleetWorker> {
    const metrics = new WorkerMetrics();
    const worker = new FleetWorker(log, config, { metrics });
    try {
      await worker.startParts();
    } catch (err) {
      await worker.close();
      throw err;
    }
    return worker;
  }

  private async startParts(): Promise<void> {
    const { config, log, parts } = this;
    const access = await DocumentAccess.create({
      roots: config.documentsRoots,
      urlPrefixes: config.allowUrlPrefixes,
      allowPrivateAddresses: config.allowPrivateAddresses,
    });
    log.info(
      {
        documentsRoots: config.documentsRoots,
        allowUrlPrefixes: config.allowUrlPrefixes,
        allowPrivateAddresses: config.allowPrivateAddresses,
      },
      config.documentsRoots.length > 0
        ? 'document access'
        : 'document access: no --documents-root, so every local file is refused',
    );
    // Port 0 asks the system for a free one: the log line tells which.
    parts.health = await startHealthServer({
      port: config.metricsPort,
      metrics: parts.metrics,
      ready: () => this.ready(),
    }).catch((err: unknown) => {
      throw inUse(err, '--metrics-port', config.metricsPort);
    });
    log.info({ port: parts.health.port }, 'serving /metrics, /healthz, /readyz');
    const budget = detectCpuBudget();
    log.info({ cpuBudget: budget }, 'CPU budget');
    const host = await ModelHost.load(
      {
        modelPath: config.modelPath,
        device: config.device,
        role: config.role,
        sequences: config.concurrency,
        threads: config.threads,
        contexts: config.contexts,
        contextSize: config.contextSize,
        gpuLayers: config.gpuLayers,
      },
      hostLog(log),
    );
    parts.host = host;
    parts.metrics.setModel({
      model: host.modelName,
      device: host.device,
      role: host.role,
      tag: config.tag,
      threads: host.threads,
      sequences: host.sequences,
      contexts: host.contexts,
      contextSize: host.contextSize,
      loadSeconds: host.loadMs / 1000,
      cpuBudget: budget.cpus,
    });

    const connection = new RedisConnection(config, 'service');
    parts.redis = connection;
    const redis = connection.client;
    const { availability } = connection;
    availability.onChange({
      unavailable: (reason) => log.warn({ redis: connection.displayUrl, reason: reason.message }, 'Redis unavailable'),
      available: () => log.info({ redis: connection.displayUrl }, 'Redis available again'),
    });
    const writes = new RedisWriteWatch(redis, log, { probeKey: `${config.prefix}:probe:${workerName()}` });
    parts.writes = writes;
    // During an outage every connection and queue reports each failed attempt; the line above says it once, and
    // a full Redis is reported once by the write watch.
    const logError = (msg: string) => (err: Error) => {
      if (availability.available && !writes.report(err)) log.error({ err }, msg);
    };
    const store = new ResultStore(redis, config.prefix, Math.round(config.resultTtlDays * 86_400));
    const extractor = new PdfTextExtractor();
    parts.extractor = extractor;
    const limits = {
      maxBytes: config.maxDocumentMb * MiB,
      maxPages: config.maxPages,
      parseTimeoutMs: config.parseTimeoutMs,
      parseMemoryMb: config.parseMemoryMb,
    };
    if (host.role === 'generate') parts.flows = new FlowProducer({ connection: redis, prefix: config.prefix });
    const processor = createProcessor({
      runner: new TaskRunner(host),
      store,
      metrics: parts.metrics,
      log,
      load: (job, signal, batchRoots) => loadDocument(job.doc, limits, { signal, extractor, access, batchRoots }),
      flows: parts.flows,
      holdsLock: (job, token) => this.consumerOf(job.queueName).keepLock(job.id!, token),
      writes,
    });
    const queues = queuesServedBy(host.role, config.tag);
    parts.consumers = queues.map(
      (queue) =>
        new QueueConsumer(queue, processor, {
          connection: redis,
          prefix: config.prefix,
          name: workerName(),
          lockDuration: config.lockMs,
          stalledInterval: Math.max(1_000, Math.round(config.lockMs / 2)),
          // A worker killed mid-job stalls it once; only a job that kills workers repeatedly fails.
          maxStalledCount: 2,
          // The scheduler waits on every queue's marker at once; drainDelay (s) only bounds an idle wait
          // before it looks at the queues again without a wake-up, as BullMQ's own worker does.
          drainDelay: 5,
        }),
    );
    for (const consumer of parts.consumers) {
      consumer.on('error', logError('queue error'));
      consumer.on('failed', (job, err) => recordStalledOut(store, log, job, err));
      await consumer.waitUntilReady();
      await consumer.startBackground();
    }
    parts.scheduler = new SlotScheduler(parts.consumers, host.sequences, logError('scheduler error'), {
      connection: redis,
    });
    parts.scheduler.start();
    parts.heartbeat = new Heartbeat(
      redis,
      store.keys,
      {
        id: workerName(),
        hostname: os.hostname(),
        pid: process.pid,
        model: host.modelName,
        device: host.device,
        tag: config.tag,
        role: host.role,
        queues,
        sequences: host.sequences,
        startedAt: Date.now(),
        version: packageVersion(),
      },
      config.heartbeatMs,
      () => ({ busy: parts.scheduler?.busy ?? 0, ...parts.metrics.totals }),
      logError('heartbeat not written'),
    );
    parts.heartbeat.start();
    log.info({ queues, tag: config.tag, slots: host.sequences }, 'worker ready');
  }

  private consumerOf(queue: string): QueueConsumer {
    return this.parts.consumers!.find((c) => c.name === queue)!;
  }

  /** From the connections' state, not a PING: a command sent during an outage waits as long as the outage. */
  private ready(): boolean {
    const { scheduler, redis, writes } = this.parts;
    return Boolean(
      scheduler && redis?.availability.available && redis.client.status === 'ready' && !writes?.full && !this.closing,
    );
  }

  /** Stops taking jobs, lets running ones finish within the grace period, then releases everything. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const { parts, log } = this;
      if (parts.scheduler) {
        const handedBack = await parts.scheduler.stop(this.config.graceMs);
        if (handedBack > 0)
          log.warn(
            { handedBack, graceMs: this.config.graceMs },
            'grace period over: running jobs handed back to the queue',
          );
      }
      // BullMQ's close talks to Redis, which may be unreachable: the process exits anyway, Redis keeps the state.
      const closing = Promise.all([
        ...(parts.consumers ?? []).map((c) => c.close(true)),
        parts.flows?.close(),
        parts.heartbeat?.close(),
      ]);
      if (!(await settleWithin(closing, CLOSE_MS))) log.warn('queues not closed: Redis did not answer');
      parts.writes?.close();
      await parts.extractor?.close();
      // A run that did not end when aborted may still be in the model; the process exits without disposing it.
      if (parts.scheduler?.busy) log.warn({ running: parts.scheduler.busy }, 'runs did not end: model left loaded');
      else await parts.host?.dispose();
      parts.redis?.close();
      await parts.health?.close();
      log.info('worker stopped');
    })();
    return this.closing;
  }
}

/** Longest a shutdown waits for BullMQ to close its queues. */
const CLOSE_MS = 5_000;

/** How this worker shows in BullMQ's client list and its own probe key. */
function workerName(): string {
  return `${os.hostname()}:${process.pid}`;
}

/**
 * The model host logs plain messages, and llama.cpp's own lines with llama.cpp's level. llama.cpp warns
 * about harmless things (e.g. unset special tokens) on every load, so only its errors rise above debug.
 */
function hostLog(log: Logger) {
  return (msg: string, { level, ...fields }: Record<string, unknown>) => {
    if (level === undefined) log.info(fields, msg);
    else if (level === 'error' || level === 'fatal') log.warn(fields, msg);
    else log.debug(fields, msg);
  };
}

/**
 * A job that stalled more often than allowed is failed by BullMQ when a worker next takes it, without the
 * processor running: its outcome is stored here, so that it has a result line and its batches' counters end.
 */
function recordStalledOut(store: ResultStore, log: Logger, job: Job | undefined, err: Error): void {
  const data = job?.data as JobData | undefined;
  if (!job?.id || !job.deferredFailure || !data || data.part) return;
  const failure = { category: 'stalled' as const, message: err.message, attempts: job.attemptsMade };
  store
    .saveFailed(job.id, { ...data, flow: undefined }, failure)
    .catch((e: unknown) => log.error({ err: e, job: job.id }, 'cannot store the outcome of a job that stalled out'));
}
