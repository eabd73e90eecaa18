import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SequencePool } from '../../src/worker/model/sequence-pool.js';
import { TEST_MODEL } from '../helpers/paths.js';

describe('SequencePool (the real model)', () => {
  let llama: Llama | undefined;
  let model: LlamaModel;

  beforeAll(async () => {
    llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    model = await llama.loadModel({ modelPath: TEST_MODEL, gpuLayers: 0 });
  });
  afterAll(async () => {
    await llama?.dispose();
  });

  it('hands a released sequence to the next job only once its history is cleared', async () => {
    const pool = await SequencePool.create(model, { sequences: 2, contexts: 1, contextSize: 256, threads: 1 });
    try {
      const a = await pool.acquire();
      const b = await pool.acquire();
      await expect(pool.acquire()).rejects.toThrow(/no free sequence/);
      // b keeps the context evaluating, so clearing a has to wait its turn: release() does not wait for it.
      const busy = (async () => {
        let n = 0;
        for await (const _ of b.evaluate(model.tokenize('Once upon a time, Tom had a red ball.'))) if (++n >= 64) break;
      })();
      let n = 0;
      for await (const _ of a.evaluate(model.tokenize('Lily went to the park with her mom.'))) if (++n >= 16) break;
      expect(a.nextTokenIndex).toBeGreaterThan(0);
      pool.release(a);
      const next = await pool.acquire();
      expect(next.nextTokenIndex).toBe(0);
      expect(next.contextTokens).toEqual([]);
      await busy;
      pool.release(b);
      pool.release(next);
      const again = await Promise.all([pool.acquire(), pool.acquire()]);
      expect(again.map((s) => s.nextTokenIndex)).toEqual([0, 0]);
    } finally {
      await pool.dispose();
    }
  });
});
