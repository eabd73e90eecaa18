import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { UserError } from '../../shared/errors.js';
import { TAGS, type TaskParams } from '../../shared/job-types.js';
import { count, positiveInteger, readJsonFile, tasksAndInputs } from '../command-arguments.js';
import { print, producerCommand, withProducer, type Flags } from './producer-command.js';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `docfleet submit`. */
export function registerSubmitCommand(program: Command): void {
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
    .option(
      '--max-tokens <n>',
      'summarize, and extract by quote: most tokens to generate (choose generates a few tokens per field)',
      positiveInteger,
    )
    .option(
      '--no-map-reduce',
      'summarize: read only the start of a long document instead of summarising it part by part',
    )
    .addOption(
      new Option(
        '--summary-focus <focus>',
        'summarize, long documents: what the part summaries keep; contract = parties, governing law, dates and ' +
          'term; document = what it is about and its key points',
      ).choices(['contract', 'document']),
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
      if (flags.summaryFocus) params.focus = flags.summaryFocus as 'contract' | 'document';
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
}
