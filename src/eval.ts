/**
 * `npm run eval -- <dir> <labels.json> [--json out.json]`: scores extract, with the configured model, against
 * CUAD-style labels. Model settings are the worker's (flags or their environment variables, e.g. MODEL_PATH).
 */
import { workerConfig } from './shared/config.js';
import { cliProgram, runProgram } from './shared/cli-program.js';
import { addSettings, settingValues } from './shared/settings/setting-options.js';
import { workerSettings } from './shared/settings/worker-settings.js';
import { runEval } from './eval/run-eval.js';

/** The worker settings the harness uses; the others (Redis, queues) are accepted and ignored. */
const USED = [
  'modelPath',
  'device',
  'threads',
  'contextSize',
  'gpuLayers',
  'maxDocumentMb',
  'maxPages',
  'parseTimeoutMs',
  'parseMemoryMb',
];

const program = cliProgram('docfleet-eval')
  .description('precision/recall of extract against labelled contracts')
  .argument('<dir>', 'directory holding the labelled PDFs')
  .argument('<labels>', 'labels JSON: [{ file, "Document Name": [spans], "Parties": [...], ... }]')
  .option('--json <file>', 'also write the full report (per-document values, counts) as JSON');
addSettings(
  program,
  workerSettings,
  Object.keys(workerSettings).filter((key) => !USED.includes(key)),
).action(async (dir: string, labels: string, opts: Record<string, unknown> & { json?: string }) => {
  await runEval({
    dir,
    labelsFile: labels,
    jsonOut: opts.json,
    config: workerConfig(settingValues(workerSettings, opts)),
    // Without one, the model's trained context, at most 4096.
    contextSizeGiven: program.getOptionValueSource('contextSize') !== 'default',
  });
});

await runProgram(program);
