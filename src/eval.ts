/**
 * `npm run eval -- <dir> <labels.json> [--json out.json]`: scores extract, with the configured model, against
 * CUAD-style labels. Model settings are the worker's (flags or their environment variables, e.g. MODEL_PATH).
 */
import { Command } from 'commander';
import { ConfigError } from './shared/errors.js';
import { runEval } from './eval/run-eval.js';

const program = new Command('docfleet-eval')
  .description('precision/recall of extract against labelled contracts')
  .argument('<dir>', 'directory holding the labelled PDFs')
  .argument('<labels>', 'labels JSON: [{ file, "Document Name": [spans], "Parties": [...], ... }]')
  .option('--json <file>', 'also write the full report (per-document values, counts) as JSON')
  .option('--model <path>', 'GGUF model (default: MODEL_PATH)')
  .option('--device <device>', 'cpu or gpu (default: DOCFLEET_DEVICE or cpu)')
  .option('--threads <n>', "CPU threads or 'auto' (default: DOCFLEET_THREADS or auto)")
  .option('--context-size <n>', "tokens of context or 'auto' (default: the model's trained context, at most 4096)")
  .showHelpAfterError()
  .action(async (dir: string, labels: string, opts: Record<string, unknown> & { json?: string }) => {
    const { json, ...flags } = opts;
    await runEval({ dir, labelsFile: labels, jsonOut: json, flags });
  });

try {
  await program.parseAsync();
} catch (err) {
  // Settings the user can fix get one clear line, as in the main CLI.
  if (err instanceof ConfigError) {
    process.stderr.write(`docfleet eval: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
