import { LlamaModel } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { perModel } from '../../src/worker/model/per-model.js';

// perModel only uses a model as a key, so bare instances stand in for loaded models.
const model = (): LlamaModel => Object.create(LlamaModel.prototype) as LlamaModel;

describe('perModel', () => {
  it('derives once per model and keeps models apart', () => {
    let calls = 0;
    const idOf = perModel(() => ++calls);
    const a = model();
    const b = model();
    expect([idOf(a), idOf(a), idOf(b), idOf(a), idOf(b)]).toEqual([1, 1, 2, 1, 2]);
    expect(calls).toBe(2);
  });

  it('remembers a falsy result instead of deriving it again', () => {
    let calls = 0;
    const none = perModel(() => {
      calls++;
      return undefined;
    });
    const a = model();
    none(a);
    none(a);
    expect(calls).toBe(1);
  });
});
