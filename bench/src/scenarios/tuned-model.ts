import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { detectCpuBudget } from '../../../dist/shared/cpu-budget.js';
import { contextCount } from '../../../dist/worker/model/model-host.js';
import { chooseThreads } from '../../../dist/worker/model/thread-tuner.js';

/**
 * The model on the CPU with no library-wide thread cap, and docfleet's own tuner's choice of threads for a
 * worker running `sequences` jobs at once in `contexts` (so the choice, and its cache entry, are the worker's own).
 */
export async function loadTuned(
  input: { modelPath: string; tuneCacheDir: string; sequences: number; contexts?: number | 'auto' },
  role: 'generate' | 'embed',
) {
  const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 0, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: input.modelPath, gpuLayers: 0 });
  const budget = detectCpuBudget();
  const tuning = await chooseThreads({
    model,
    modelPath: input.modelPath,
    role,
    threads: 'auto',
    budget,
    cacheDir: input.tuneCacheDir,
    contextsAt: (threads) =>
      contextCount({ device: 'cpu', sequences: input.sequences, contexts: input.contexts }, { threads, budget }),
  });
  return { llama, model, tuning };
}
