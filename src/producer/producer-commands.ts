import { once } from 'node:events';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { exporterConfig, producerConfig } from '../shared/config.js';
import { exporterSettings, producerSettings } from '../shared/settings/producer-settings.js';
import { addSettings, settingValues } from '../shared/settings/setting-options.js';
import { ExitCode, RedisUnavailableError, UserError } from '../shared/errors.js';
import { inUse } from '../shared/http-endpoint.js';
import { createLogger } from '../shared/logger.js';
import { redactUrl } from '../shared/redis-redaction.js';
import { TAGS, type TaskParams } from '../shared/job-types.js';
import { batchResults, batchStatus, cancelBatch, recentBatches, retryBatch } from './batch-control.js';
import { batchListing, formatBatches } from './batch-listing.js';
import { Producer } from './producer.js';
import { startQueueExporter } from './queue-exporter.js';
import { cannotWrite, count, openOutput, positiveInteger, readJsonFile, tasksAndInputs } from './command-arguments.js';
import { VectorWriter, omitVectors } from './vector-export.js';

/** Settings a producer command does not use itself but passes to the Producer: accepted, left out of its help. */
const NOT_SHOWN = ['maxDocumentMb', 'attempts', 'resultTtlDays', 'allowUrlPrefixes', 'allowPrivateAddresses'];

/** A producer command: the producer settings as options. */
function producerCommand(program: Command, name: string, hidden: readonly string[] = NOT_SHOWN): Command {
  return addSettings(program.command(name), producerSettings, hidden);
}

async function withProducer<T>(flags: Flags, fn: (p: Producer) => Promise<T>): Promise<T> {
  const config = producerConfig(settingValues(producerSettings, flags));
  const producer = new Producer(config);
  try {
    // The timeout is the command's, counted from its start (performance.now()): a loaded machine's slow
    // start must not push a cron job past it.
    await producer.connection.ready(Math.max(1_000, config.redisTimeoutMs - performance.now()));
    return await fn(producer);
  } catch (err) {
    // Redis went away mid-command and stayed away for the timeout: say so in one line, not with its stack.
    if (!(err instanceof RedisUnavailableError) && producer.connection.disconnected)
      throw producer.connection.unavailable(err);
    throw err;
  } finally {
    await producer.close();
  }
}

/** Options as commander hands them over, by camelCase name. */
type Flags = Record<string, unknown>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

export function registerProducerCommands(program: Command): void {
  producerCommand(program, 'submit', [])
    .description('enqueue documents (files, directories walked recursively, http(s) URLs) as one batch')
    .argument('[inputs...]', 'PDF, .txt or .md files, directories, or URLs')
    .addOption(
      new Option(
        '--task <tasks...>',
        'tasks to run on each document, comma-separated: summarize, extract, embed',
      ).makeOptionMandatory(),
    )
    .addOption(new Option('--tag <tag>', 'which workers may run the jobs').choices(TAGS).default('any'))
    .option(
      '--priority <n>',
      'BullMQ priority, 1 = most urgent (default: none, before prioritised jobs)',
      positiveInteger,
    )
    .option('--schema <file.json>', 'extract: JSON Schema of the fields (default: the built-in contract schema)')
    .addOption(
      new Option(
        '--extract-method <method>',
        'extract: choose = the model picks a sentence per field; quote = it writes each value with a verbatim quote ' +
          '(default: choose when every field is a string or a list of strings, else quote)',
      ).choices(['choose', 'quote']),
    )
    .option('--max-tokens <n>', 'summarize/extract: most tokens to generate', positiveInteger)
    .option(
      '--no-map-reduce',
      'summarize: read only the start of a long document instead of summarising it part by part',
    )
    .option(
      '--chunk-tokens <n>',
      "embed: most tokens per chunk, by the embedding model's tokenizer (default 256)",
      positiveInteger,
    )
    .option(
      '--chunk-overlap-tokens <n>',
      'embed and long summaries: tokens each chunk repeats from the one before (embed default 0, summaries 1/32 of a chunk)',
      count,
    )
    .option('--chunk-chars <n>', 'embed: most characters per chunk (as well as the token limit)', positiveInteger)
    .option('--model <name>', 'the model (file name without .gguf) the results must come from; part of the job id')
    .option('--name <name>', 'a label for the batch in `docfleet batches`')
    .option('--json', 'print {"batch","jobs","duplicates","refused"} as JSON')
    .action(async (words: string[], flags: Flags) => {
      const { tasks, inputs } = tasksAndInputs(flags.task as string[], words);
      const params: TaskParams = {};
      if (typeof flags.schema === 'string') {
        const schema = await readJsonFile('--schema', flags.schema);
        if (!isObject(schema)) throw new UserError(`--schema ${flags.schema}: not a JSON object`);
        params.schema = schema;
      }
      if (flags.extractMethod) params.method = flags.extractMethod as 'choose' | 'quote';
      if (flags.maxTokens) params.maxTokens = flags.maxTokens as number;
      if (flags.mapReduce === false) params.mapReduce = false;
      if (flags.chunkChars) params.chunkChars = flags.chunkChars as number;
      if (flags.chunkTokens) params.chunkTokens = flags.chunkTokens as number;
      if (flags.chunkOverlapTokens) params.chunkOverlapTokens = flags.chunkOverlapTokens as number;
      if (typeof flags.model === 'string') params.model = flags.model;
      const bar =
        process.stderr.isTTY && !flags.json
          ? new cliProgress.SingleBar({ format: 'submitting {value} documents {name}', clearOnComplete: true })
          : undefined;
      bar?.start(0, 0, { name: '' });
      const result = await withProducer(flags, (p) =>
        p.submit(inputs, {
          tasks,
          tag: flags.tag as (typeof TAGS)[number],
          priority: flags.priority as number | undefined,
          params,
          ...(typeof flags.name === 'string' ? { name: flags.name } : {}),
          onDocument: (ref) => bar?.increment(1, { name: ref.name }),
          onRefused: (input, reason) => process.stderr.write(`refused ${input}: ${reason}\n`),
        }),
      );
      bar?.stop();
      if (result.jobs + result.duplicates === 0) {
        throw new UserError(`nothing submitted: all ${result.refused} inputs were refused (reasons above)`);
      }
      if (flags.json) print(result);
      else {
        process.stderr.write(
          `${result.jobs} jobs created, ${result.duplicates} duplicates, ${result.refused} refused\n`,
        );
        process.stdout.write(`${result.batch}\n`);
      }
    });

  producerCommand(program, 'status')
    .description('counts of a batch: total / completed / failed / cancelled / pending')
    .argument('<batch>')
    .option('--json', 'print as JSON')
    .action(async (batch: string, flags: Flags) => {
      const s = await withProducer(flags, (p) => batchStatus(p, batch));
      if (flags.json) print(s);
      else
        process.stdout.write(
          `batch ${s.batch}${s.name ? ` (${s.name})` : ''}: total ${s.total}, completed ${s.completed}, ` +
            `failed ${s.failed}, cancelled ${s.cancelled}, pending ${s.pending}` +
            `${s.submitting ? ' (still being submitted)' : s.done ? ' (done)' : ''}\n`,
        );
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

  producerCommand(program, 'results')
    .description('one JSON line per document and task: its result or categorised error')
    .argument('<batch>')
    .option('--out <file.jsonl>', 'write to a file instead of stdout')
    .option(
      '--vectors <file.f32>',
      'embed: write the vectors as little-endian float32 rows to this file (rows described in <file.f32>.jsonl) and leave them out of the JSON lines',
    )
    .action(async (batch: string, flags: Flags) => {
      const out = typeof flags.out === 'string' ? await openOutput('--out', flags.out) : process.stdout;
      const vectors = typeof flags.vectors === 'string' ? await createVectorWriter(flags.vectors) : undefined;
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
        throw err;
      } finally {
        if (out !== process.stdout) await new Promise<void>((r) => out.end(() => r()));
      }
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

  addSettings(program.command('exporter'), exporterSettings)
    .description('serve queue depth per queue and state as Prometheus metrics, once for the whole fleet')
    .action(async (flags: Flags) => {
      const config = exporterConfig(settingValues(exporterSettings, flags));
      const log = createLogger(config.logLevel, 'docfleet-exporter', 2);
      const exporter = await startQueueExporter({
        redis: config,
        prefix: config.prefix,
        port: config.port,
        onAvailability: {
          unavailable: (reason) =>
            log.warn({ redis: redactUrl(config.redisUrl), reason: reason.message }, 'Redis unavailable'),
          available: () => log.info({ redis: redactUrl(config.redisUrl) }, 'Redis available again'),
        },
      }).catch((err: unknown) => {
        throw inUse(err, '--port', config.port);
      });
      process.stderr.write(`queue exporter on :${exporter.port}/metrics\n`);
      const stop = () => void exporter.close().then(() => process.exit(ExitCode.ok));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}

async function createVectorWriter(file: string): Promise<VectorWriter> {
  try {
    return await VectorWriter.create(file);
  } catch (err) {
    throw cannotWrite('--vectors', file, err);
  }
}

/** Vectors are Float32Arrays in memory; in JSONL they are plain arrays. */
function vectorsAsArrays(_key: string, value: unknown): unknown {
  return value instanceof Float32Array ? Array.from(value) : value;
}
