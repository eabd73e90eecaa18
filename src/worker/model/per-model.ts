import type { LlamaModel } from 'node-llama-cpp';

/**
 * `derive`, computed the first time a key asks and remembered for as long as that key lives: for what is costly
 * or must be shared per object (a model's parsed template, a context's lockstep) and never changes.
 */
export function perKey<K extends object, T>(derive: (key: K) => T): (key: K) => T {
  const known = new WeakMap<K, T>();
  return (key) => {
    if (!known.has(key)) known.set(key, derive(key));
    return known.get(key)!;
  };
}

/** `perKey` for what is worked out once per loaded model (parsing its template, scanning its vocabulary). */
export function perModel<T>(derive: (model: LlamaModel) => T): (model: LlamaModel) => T {
  return perKey(derive);
}
