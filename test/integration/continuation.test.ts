import {
  getLlama,
  LlamaCompletion,
  LlamaLogLevel,
  type Llama,
  type LlamaContext,
  type LlamaModel,
} from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { continueTokens } from '../../src/worker/model/continuation.js';
import { repeatedSentenceAt } from '../../src/worker/model/repeated-sentence.js';
import { TEST_MODEL } from '../helpers/paths.js';

describe('continueTokens (the real model)', () => {
  let llama: Llama | undefined;
  let model: LlamaModel;
  let context: LlamaContext;
  const promptOf = (text: string) => [model.tokens.bos!, ...model.tokenize(text, false, 'trimLeadingSpace')];

  beforeAll(async () => {
    llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    model = await llama.loadModel({ modelPath: TEST_MODEL, gpuLayers: 0 });
    context = await model.createContext({ contextSize: 256, threads: 1 });
  });
  afterAll(async () => {
    await llama?.dispose();
  });

  it('generates up to maxTokens, counted by the sequence meter, into a cleared sequence', async () => {
    const sequence = context.getSequence();
    const prompt = promptOf('Once upon a time, Lily went to the park.');
    for (const maxTokens of [1, 24]) {
      const before = sequence.tokenMeter.getState();
      const res = await continueTokens(model, sequence, prompt, maxTokens);
      const used = sequence.tokenMeter.diff(before);
      expect(res.stopReason === 'maxTokens' || res.stopReason === 'eogToken').toBe(true);
      expect(used.usedOutputTokens).toBeLessThanOrEqual(maxTokens);
      if (res.stopReason === 'maxTokens') expect(used.usedOutputTokens).toBe(maxTokens);
      expect(sequence.nextTokenIndex).toBeLessThanOrEqual(prompt.length + maxTokens);
      expect(res.text.length).toBeGreaterThan(0);
    }
    await sequence.dispose();
  });

  it('gives the text LlamaCompletion gives', async () => {
    // Neither applies a repeat penalty (node-llama-cpp's default penalty is 1), so greedy outputs agree at any length.
    const sequence = context.getSequence();
    const prompt = promptOf('Tom had a red ball. He');
    const ours = await continueTokens(model, sequence, prompt, 64);
    const completion = new LlamaCompletion({ contextSequence: sequence });
    await sequence.clearHistory();
    // LlamaCompletion prepends the BOS token itself.
    const theirs = await completion.generateCompletionWithMeta(prompt.slice(1), {
      maxTokens: 64,
      disableContextShift: true,
      contextShiftSize: 0,
    });
    completion.dispose();
    expect(ours.text).toBe(theirs.response);
    await sequence.dispose();
  });

  it('stops with the abort reason when the signal aborts', async () => {
    const sequence = context.getSequence();
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    await expect(
      continueTokens(model, sequence, promptOf('Once upon a time'), 50, { signal: controller.signal }),
    ).rejects.toThrow('shutting down');
    await sequence.dispose();
  });

  it('stops at a stop sequence and leaves it out of the text', async () => {
    const sequence = context.getSequence();
    const prompt = promptOf('Once upon a time, Lily went to the park.');
    const free = await continueTokens(model, sequence, prompt, 24);
    const tokens = model.tokenize(free.text, true);
    const stop = tokens.slice(6, 8);
    const stopped = await continueTokens(model, sequence, prompt, 24, { stops: [stop] });
    expect(stopped.stopReason).toBe('eogToken');
    expect(free.text.startsWith(stopped.text)).toBe(true);
    expect(model.tokenize(stopped.text, true).length).toBeLessThan(tokens.length);
    await sequence.dispose();
  });

  it('stops at the first repeated sentence when asked to', async () => {
    const sequence = context.getSequence();
    const prompt = promptOf('Tom said: "I like the ball." Tom said: "I like the ball." Tom said:');
    const free = await continueTokens(model, sequence, prompt, 120);
    const stopped = await continueTokens(model, sequence, prompt, 120, { stopAtRepeat: true });
    expect(repeatedSentenceAt(free.text)).toBeDefined();
    expect(stopped.stopReason).toBe('eogToken');
    expect(stopped.text.length).toBeLessThan(free.text.length);
    expect(free.text.startsWith(stopped.text)).toBe(true);
    await sequence.dispose();
  });
});
