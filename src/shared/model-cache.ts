import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The real small models that scripts/fetch-models.sh puts in the cache (docs/models.md), best first: SmolLM2 is
 * instruction-tuned, Gemma 3 270M is a base model.
 */
export const REAL_MODELS = ['smollm2-135m-instruct-q4_1.gguf', 'gemma-3-270m-q4_k_m.gguf'] as const;

/** `$DOCFLEET_CACHE_DIR/models`, else `~/.cache/docfleet/models`: where scripts/fetch-models.sh leaves the models. */
export function modelCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCFLEET_CACHE_DIR || path.join(os.homedir(), '.cache', 'docfleet'), 'models');
}

/** The path of the first real model present in the cache, if any. */
export function cachedRealModel(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return REAL_MODELS.map((m) => path.join(modelCacheDir(env), m)).find((p) => existsSync(p));
}
