import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { withUrlAccess } from '../shared/access/access-flags.js';
import { loadProducerConfig, type Flags } from '../shared/config.js';
import { TAGS, TASKS, type TaskName, type TaskParams } from '../shared/job-types.js';
import { batchResults, batchStatus, cancelBatch, retryBatch } from './batch-control.js';
import { Producer } from './producer.js';
import { startQueueExporter } from './queue-exporter.js';
import { VectorExportError, VectorWriter, omitVectors } from './vector-export.js';

/** Options every command that talks to Redis accepts. */
export function withConnection(cmd: Command): Command {
  return cmd
    .option('--redis-url <url>', 'Redis URL (env REDIS_URL, default redis://127.0.0.1:6379)')
    .option('--prefix <prefix>', 'key prefix of queues and results (env DOCFLEET_PREFIX, default docfleet)')
    .option('--log-level <level>', 'log level (env LOG_LEVEL, default info)');
}

async function withProducer<T>(flags: Flags, fn: (p: Producer) => Promise<T>): Promise<T> {
  const producer = new Producer(loadProducerConfig(flags));
  try {
    return await fn(producer);
  } finally {
    await producer.close();
  }
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

export function registerProducerCommands(program: Command): void {
  withUrlAccess(withConnection(program.command('submit')))
    .description('enqueue documents (files, directories walked recursively, http(s) URLs) as one batch')
    .argument('<inputs...>', 'PDF, .txt or .md files, directories, or URLs')
    .addOption(new Option('--task <task...>', 'task(s) to run on each document').choices(TASKS).makeOptionMandatory())
    .addOption(new Option('--tag <tag>', 'which workers may run the jobs').choices(TAGS).default('any'))
    .option(
      '--priority <n>',
      'BullMQ priority, 1 = most urgent (default: none, before prioritised jobs)',
      parsePositive,
    )
    .option('--schema <file.json>', 'extract: JSON Schema of the fields (default: the built-in contract schema)')
    .option('--max-tokens <n>', 'summarize/extract: most tokens to generate', parsePositive)
    .option(
      '--no-map-reduce',
      'summarize: read only the start of a long document instead of summarising it part by part',
    )
    .option(
      '--chunk-tokens <n>',
      "embed: most tokens per chunk, by the embedding model's tokenizer (default 256)",
      parsePositive,
    )
    .option(
      '--chunk-overlap-tokens <n>',
      'embed and long summaries: tokens each chunk repeats from the one before (embed default 0, summaries 1/32 of a chunk)',
      parseCount,
    )
    .option('--chunk-chars <n>', 'embed: most characters per chunk (as well as the token limit)', parsePositive)
    .option('--model <name>', 'the model (file name without .gguf) the results must come from; part of the job id')
    .option('--max-document-mb <n>', 'refuse documents larger than this (env DOCFLEET_MAX_DOCUMENT_MB, default 50)')
    .option('--attempts <n>', 'attempts per job for transient failures (env DOCFLEET_ATTEMPTS, default 3)')
    .option('--json', 'print {"batch","jobs","duplicates","refused"} as JSON')
    .action(async (inputs: string[], flags: Flags) => {
      const params: TaskParams = {};
      if (flags.schema)
        params.schema = JSON.parse(await readFile(String(flags.schema), 'utf8')) as Record<string, unknown>;
      if (flags.maxTokens) params.maxTokens = flags.maxTokens as number;
      if (flags.mapReduce === false) params.mapReduce = false;
      if (flags.chunkChars) params.chunkChars = flags.chunkChars as number;
      if (flags.chunkTokens) params.chunkTokens = flags.chunkTokens as number;
      if (flags.chunkOverlapTokens) params.chunkOverlapTokens = flags.chunkOverlapTokens as number;
      if (flags.model) params.model = String(flags.model);
      const bar =
        process.stderr.isTTY && !flags.json
          ? new cliProgress.SingleBar({ format: 'submitting {value} documents {name}', clearOnComplete: true })
          : undefined;
      bar?.start(0, 0, { name: '' });
      const result = await withProducer(flags, (p) =>
        p.submit(inputs, {
          tasks: flags.task as TaskName[],
          tag: flags.tag as (typeof TAGS)[number],
          priority: flags.priority as number | undefined,
          params,
          onDocument: (ref) => bar?.increment(1, { name: ref.name }),
          onRefused: (input, reason) => process.stderr.write(`refused ${input}: ${reason}\n`),
        }),
      );
      bar?.stop();
      if (flags.json) print(result);
      else {
        process.stderr.write(
          `${result.jobs} jobs created, ${result.duplicates} duplicates, ${result.refused} refused\n`,
        );
        process.stdout.write(`${result.batch}\n`);
      }
    });

  withConnection(program.command('status'))
    .description('counts of a batch: total / waiting / active / completed / failed')
    .argument('<batch>')
    .option('--json', 'print as JSON')
    .action(async (batch: string, flags: Flags) => {
      const s = await withProducer(flags, (p) => batchStatus(p, batch));
      if (flags.json) print(s);
      else
        process.stdout.write(
          `batch ${s.batch}: total ${s.total}, waiting ${s.waiting}, active ${s.active}, delayed ${s.delayed}, ` +
            `completed ${s.completed}, failed ${s.failed}, cancelled ${s.cancelled}${s.missing ? `, missing ${s.missing}` : ''}` +
            `${s.done ? ' (done)' : ''}\n`,
        );
    });

  withConnection(program.command('results'))
    .description('one JSON line per document and task: its result or categorised error')
    .argument('<batch>')
    .option('--out <file.jsonl>', 'write to a file instead of stdout')
    .option(
      '--vectors <file.f32>',
      'embed: write the vectors as little-endian float32 rows to this file (rows described in <file.f32>.jsonl) and leave them out of the JSON lines',
    )
    .action(async (batch: string, flags: Flags) => {
      const out = flags.out ? createWriteStream(String(flags.out)) : process.stdout;
      const vectors = flags.vectors ? await VectorWriter.create(String(flags.vectors)) : undefined;
      const replacer = vectors ? omitVectors : vectorsAsArrays;
      try {
        await withProducer(flags, async (p) => {
          for await (const line of batchResults(p, batch)) {
            await vectors?.add(line);
            if (!out.write(`${JSON.stringify(line, replacer)}\n`)) await once(out, 'drain');
          }
        });
        const s = await vectors?.close();
        if (s) {
          process.stderr.write(
            `${s.rows} vectors${s.dimensions ? ` of ${s.dimensions} dimensions` : ''} from ${s.results} embed results ` +
              `written to ${s.vectorsFile}, rows described in ${s.sidecarFile}\n`,
          );
        }
      } catch (err) {
        // A half-written vector file must not pass for a whole one.
        await vectors?.abort();
        if (!(err instanceof VectorExportError)) throw err;
        process.stderr.write(`docfleet: ${err.message}\n`);
        process.exitCode = 2;
      }
      if (out !== process.stdout) await new Promise<void>((r) => out.end(() => r()));
    });

  withConnection(program.command('cancel'))
    .description('remove a batch’s queued jobs; running ones finish')
    .argument('<batch>')
    .action(async (batch: string, flags: Flags) => {
      const r = await withProducer(flags, (p) => cancelBatch(p, batch));
      process.stdout.write(`cancelled ${r.cancelled} queued jobs; ${r.running} already running will finish\n`);
    });

  withConnection(program.command('retry'))
    .description('re-enqueue a batch’s failed jobs')
    .argument('<batch>')
    .action(async (batch: string, flags: Flags) => {
      const r = await withProducer(flags, (p) => retryBatch(p, batch));
      process.stdout.write(`retried ${r.retried} failed jobs\n`);
    });

  withConnection(program.command('exporter'))
    .description('serve queue depth per queue and state as Prometheus metrics, once for the whole fleet')
    .option('--port <port>', 'HTTP port', '9465')
    .action(async (flags: Flags) => {
      const config = loadProducerConfig(flags);
      const exporter = await startQueueExporter({
        redisUrl: config.redisUrl,
        prefix: config.prefix,
        port: Number(flags.port),
      });
      process.stderr.write(`queue exporter on :${exporter.port}/metrics\n`);
      const stop = () => void exporter.close().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}

function parsePositive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got "${v}"`);
  return n;
}

function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got "${v}"`);
  return n;
}

/** Vectors are Float32Arrays in memory; in JSONL they are plain arrays. */
function vectorsAsArrays(_key: string, value: unknown): unknown {
  return value instanceof Float32Array ? Array.from(value) : value;
}
