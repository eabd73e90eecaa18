import type { LlamaModel } from 'node-llama-cpp';

/**
 * `derive`, computed the first time a model asks and remembered for as long as that model lives: for what is
 * costly to work out from a model (parsing its template, scanning its vocabulary) and never changes.
 */
export function perModel<T>(derive: (model: LlamaModel) => T): (model: LlamaModel) => T {
  const known = new WeakMap<LlamaModel, T>();
  return (model) => {
    if (!known.has(model)) known.set(model, derive(model));
    return known.get(model)!;
  };
}
