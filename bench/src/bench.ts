import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { detectCpuBudget } from '../../dist/shared/cpu-budget.js';
import { startLocalRedis } from '../../dist/shared/local-redis.js';
import { DISTURBED_CORES, disturbanceReport, type Context } from './bench-context.js';
import {
  CLI,
  DEFAULT_MODEL,
  exitOnStop,
  ForeignCpuMeter,
  log,
  RESULTS_DIR,
  round,
  WORKLOAD,
  writeDocuments,
} from './common.js';
import { embedding } from './embedding.js';
import { load } from './load.js';
import { longDocuments } from './long-documents.js';
import { peer } from './peer.js';
import { quality, qualityTables } from './quality.js';
import { qualitySideBySide } from './quality-side-by-side.js';
import { DEFAULT_QUALITY_METHODS, METHODS, type Method } from './quality-report.js';
import { queueOverhead } from './queue-overhead.js';
import { scaling } from './scaling.js';
import { throughput } from './throughput.js';

/**
 * `npm run bench -- throughput|queue|scaling|embed|long|load|quality|peer|all` (`load`, `quality` and `peer` are not
 * part of `all`): measures docfleet against node-llama-cpp driven directly (the ceiling), against a naive BullMQ
 * worker and against llama.cpp's llama-server, and its queue paths against plain BullMQ;
 * prints tables and writes bench/results/*.json. Everything runs on one throwaway Redis.
 */

async function writeJson(name: string, data: unknown): Promise<string> {
  const file = path.join(RESULTS_DIR, name);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(data, null, 2) + '\n');
  await rename(tmp, file);
  return path.relative(process.cwd(), file);
}

async function main(): Promise<void> {
  const mode = process.argv[2] ?? 'all';
  if (!['throughput', 'scaling', 'long', 'queue', 'embed', 'load', 'quality', 'peer', 'all'].includes(mode)) {
    process.stderr.write(
      'usage: npm run bench -- [throughput|scaling|long [--rounds N]|queue|embed|load|all]' +
        ' | quality [--limit N] [--model NAME-PART] [--methods choose,baseline|none] [--in-turns] | quality --tables quality.json' +
        ' | peer [--models toy,smollm2,gemma] [--documents short,chunks]\n',
    );
    process.exit(2);
  }
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  if (mode === 'load') return loadRun();
  if (mode === 'quality') return qualityRun();
  const modelPath = path.resolve(process.env.BENCH_MODEL_PATH || process.env.TEST_MODEL_PATH || DEFAULT_MODEL);
  if (!existsSync(modelPath)) throw new Error(`model ${modelPath} not found (BENCH_MODEL_PATH to use another)`);

  const started = Date.now();
  const redis = await startLocalRedis();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'docfleet-bench-'));
  const stopAll = async () => {
    await redis.stop();
    await rm(tmp, { recursive: true, force: true });
  };
  exitOnStop(stopAll);
  try {
    let n = 0;
    const ctx: Context = {
      redisUrl: redis.url,
      modelPath,
      tmp,
      cacheHome: path.join(tmp, 'cache'),
      docsDir: path.join(tmp, 'docs'),
      warmupDir: path.join(tmp, 'warmup'),
      files: [],
      prefix: () => `bench${++n}`,
      flush: async () => {
        const client = new Redis(redis.url);
        await client.flushall();
        client.disconnect();
      },
      disturbances: [],
      measure: async (phase, fn) => {
        const meter = new ForeignCpuMeter();
        await meter.start();
        try {
          return await fn();
        } finally {
          const d = await meter.stop();
          ctx.disturbances.push({ phase, ...d });
          if (d.foreignCores > DISTURBED_CORES || d.stealCores > DISTURBED_CORES) {
            log(
              `  ${phase}: other processes took ${d.foreignCores} cores (${d.top.map((t) => t.comm).join(', ')}), steal ${d.stealCores} cores`,
            );
          }
        }
      },
    };
    ctx.files = await writeDocuments(ctx.docsDir, WORKLOAD.documents);
    await writeDocuments(ctx.warmupDir, 32, 900_000);
    const meta = {
      date: new Date().toISOString(),
      node: process.version,
      cpu: os.cpus()[0]?.model.trim(),
      cpus: os.cpus().length,
      cpuBudget: detectCpuBudget(),
      model: path.basename(modelPath),
      workload: WORKLOAD,
      command: process.argv[2] ? `npm run bench -- ${mode}` : 'npm run bench',
    };
    log(
      `model ${modelPath}; Redis ${redis.url}; ${meta.cpus} CPUs, budget ${meta.cpuBudget.cpus} (${meta.cpuBudget.source})`,
    );
    const texts: string[] = [];
    if (mode === 'throughput' || mode === 'all') {
      // One run, one file: throughput, queue overhead, scaling and memory measured side by side.
      const t = await throughput(ctx);
      const s = await scaling(ctx);
      texts.push(t.text, s.text);
      const file = await writeJson('throughput.json', { meta, ...t.json, scaling: s.json });
      log(`wrote ${file}`);
    }
    if (mode === 'embed' || mode === 'all') {
      const e = await embedding(ctx);
      texts.push(e.text);
      const file = await writeJson('embedding.json', { meta, ...e.json });
      log(`wrote ${file}`);
    }
    if (mode === 'peer') {
      const list = (flag: string) => {
        const at = process.argv.indexOf(flag);
        return at > 0 ? process.argv[at + 1]?.split(',').filter(Boolean) : undefined;
      };
      const [only, classes] = [list('--models'), list('--documents')];
      // A limited run does not overwrite the figures of a whole one.
      const limits = [...(only ?? []), ...(classes ?? [])];
      const name = limits.length > 0 ? `peer-${limits.join('-')}.json` : 'peer.json';
      const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
      const save = async (json: unknown) => {
        // Each case names its own model; the default model of meta is not the peer's.
        const { model: _model, ...rest } = meta;
        await writeJson(name, { meta: { ...rest, command }, ...(json as object) });
      };
      const p = await peer(ctx, only, classes, save);
      texts.push(p.text);
      log(`wrote bench/results/${name}`);
    }
    if (mode === 'queue') {
      // Only the queue-overhead part of `throughput`; prints, writes no file.
      const q = await queueOverhead(ctx);
      texts.push(`${q.text}\n\n${disturbanceReport(ctx.disturbances)}`);
    }
    if (mode === 'scaling') {
      // Only the scaling and memory part of `throughput`; prints, writes no file.
      texts.push((await scaling(ctx)).text);
    }
    if (mode === 'long' || mode === 'all') {
      const save = (json: object) => writeJson('long-documents.json', { meta, ...json });
      const l = await longDocuments(ctx, longRounds(), async (json) => {
        await save(json);
      });
      texts.push(`${l.text}\n\n${disturbanceReport(ctx.disturbances)}`);
      log(`wrote ${await save(l.json)}`);
    }
    process.stdout.write(
      `\n${texts.join('\n\n')}\n\n(${mode === 'peer' ? '' : `${meta.model}, `}${meta.cpus} CPUs, ${meta.node}; whole run ${round((Date.now() - started) / 1000)} s)\n`,
    );
  } finally {
    await stopAll();
  }
}

/** `--rounds N` of the long-document run (3 by default). */
function longRounds(): number {
  const at = process.argv.indexOf('--rounds');
  const rounds = at > 0 ? Number(process.argv[at + 1]) : 3;
  if (!(Number.isInteger(rounds) && rounds > 0)) {
    process.stderr.write('--rounds must be a positive integer\n');
    process.exit(2);
  }
  return rounds;
}

/** The load run needs no model: its own Redis, the producer and the batch commands. */
async function loadRun(): Promise<void> {
  const redis = await startLocalRedis();
  exitOnStop(() => redis.stop());
  try {
    log(`Redis ${redis.url}; ${os.cpus().length} CPUs`);
    const l = await load(redis.url);
    const meta = {
      date: new Date().toISOString(),
      node: process.version,
      cpu: os.cpus()[0]?.model.trim(),
      cpus: os.cpus().length,
      command: 'npm run bench -- load',
    };
    log(`wrote ${await writeJson('load.json', { meta, ...l.json })}`);
    process.stdout.write(`\n${l.text}\n`);
  } finally {
    await redis.stop();
  }
}

/** The quality run needs the real models of the cache and the labelled corpus, no Redis. */
async function qualityRun(): Promise<void> {
  const arg = (name: string) => {
    const at = process.argv.indexOf(name);
    return at > 0 ? process.argv[at + 1] : undefined;
  };
  const saved = arg('--tables');
  if (saved) return void process.stdout.write(`${await qualityTables(saved)}\n`);
  const limit = arg('--limit') === undefined ? undefined : Number(arg('--limit'));
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    process.stderr.write('--limit must be a positive integer\n');
    process.exit(2);
  }
  // `none`: summaries and throughput only.
  const given = arg('--methods') ?? DEFAULT_QUALITY_METHODS.join(',');
  const methods = given === 'none' ? [] : given.split(',');
  if (!methods.every((m): m is Method => (METHODS as readonly string[]).includes(m))) {
    process.stderr.write(`--methods takes a comma-separated list of ${METHODS.join(', ')}, or none\n`);
    process.exit(2);
  }
  const started = Date.now();
  const only = arg('--model');
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model.trim(),
    cpus: os.cpus().length,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
  };
  if (!only && !process.argv.includes('--in-turns')) {
    const joined = await qualitySideBySide(process.argv.slice(3));
    if (joined) {
      const file = await writeJson('quality.json', { ...joined, meta: { ...(joined.meta as object), ...meta } });
      const took = round((Date.now() - started) / 1000);
      return void process.stdout.write(`\n${await qualityTables(file)}\n\n(${meta.cpus} CPUs; whole run ${took} s)\n`);
    }
  }
  // A run of one model does not overwrite the figures of both.
  const file = only ? `quality-${only}.json` : 'quality.json';
  const progress = async (json: Record<string, unknown>) => {
    log(`wrote ${await writeJson(file, { meta, ...json })} (${String(json.documents)} contracts)`);
  };
  const q = await quality({ limit, only, methods, progress });
  process.stdout.write(
    `\n${q.text}\n\n(${meta.cpus} CPUs, ${meta.node}; whole run ${round((Date.now() - started) / 1000)} s)\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
