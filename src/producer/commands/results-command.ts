import { once } from 'node:events';
import type { Command } from 'commander';
import { batchResults } from '../batch-control.js';
import { cannotWrite, openOutput } from '../command-arguments.js';
import { VectorWriter, omitVectors } from '../vector-export.js';
import { producerCommand, withProducer, type Flags } from './producer-command.js';

/** `docfleet results`. */
export function registerResultsCommand(program: Command): void {
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
