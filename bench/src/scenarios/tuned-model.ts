import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { detectCpuBudget } from '../../../dist/shared/cpu-budget.js';
import { chooseThreads } from '../../../dist/worker/model/thread-tuner.js';

/** The model on the CPU with no library-wide thread cap, and docfleet's own tuner's choice of threads. */
export async function loadTuned(input: { modelPath: string; tuneCacheDir: string }, role: 'generate' | 'embed') {
  const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 0, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: input.modelPath, gpuLayers: 0 });
  const tuning = await chooseThreads({
    model,
    modelPath: input.modelPath,
    role,
    threads: 'auto',
    budget: detectCpuBudget(),
    cacheDir: input.tuneCacheDir,
  });
  return { llama, model, tuning };
}
