import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { LlamaChatSession } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelCacheDir, REAL_MODELS } from '../../src/shared/model-cache.js';
import type { ExtractOutput } from '../../src/shared/tasks/extract.js';
import { chatWrapperOf, generate, SYSTEM_PROMPT } from '../../src/worker/model/generation.js';
import { ModelHost } from '../../src/worker/model/model-host.js';
import { withoutRepeats } from '../../src/worker/model/repeated-sentence.js';
import { extract } from '../../src/worker/tasks/extract/extract.js';
import { CONTRACT_FIELDS } from '../../src/worker/tasks/extract/contract-schema.js';
import { normalizeForQuote } from '../../src/worker/tasks/extract/quote-finder.js';
import { docOf } from '../helpers/documents.js';
import { ROOT } from '../helpers/paths.js';

/**
 * Opt-in: runs only where scripts/fetch-models.sh has put the real models in the cache (CI has them). On a short
 * contract of our own, the default extraction (method choose) must name the parties and the governing law, grounded where the
 * document says them. Greedy decoding makes the answers the same on every run.
 */

/** Only the two fields checked, so each model answers two short prompts. */
const schema = {
  type: 'object',
  properties: { parties: CONTRACT_FIELDS.parties, governing_law: CONTRACT_FIELDS.governing_law },
};
const contract = docOf([readFileSync(path.join(ROOT, 'test/fixtures/short-contract.txt'), 'utf8')]);

for (const name of REAL_MODELS) {
  const modelPath = path.join(modelCacheDir(), name);
  const present = existsSync(modelPath);
  const title = present ? name : `${name} (skipped: not in ${modelCacheDir()}; scripts/fetch-models.sh fetches it)`;

  describe.skipIf(!present)(`real model ${title}`, () => {
    let host: ModelHost | undefined;
    beforeAll(async () => {
      host = await ModelHost.load({
        modelPath,
        device: 'cpu',
        role: 'generate',
        sequences: 1,
        threads: 1,
        contextSize: 2048,
        gpuLayers: 'auto',
      });
    });
    afterAll(async () => {
      await host?.dispose();
    });

    it('extracts the parties and the governing law of a short contract, grounded at their offsets', async () => {
      const { output } = await host!.withSequence(undefined, (env) => extract(env, contract, { schema }));
      const parties = (output.fields.parties as string[]).join(' ');
      expect(parties).toContain('Bramblewood Energy LLC');
      expect(parties).toContain('Ostrava Data Ltd');
      expect(output.fields.governing_law).toMatch(/laws of the State of Texas/);
      for (const field of ['parties', 'governing_law']) expectGrounded(output, field);
    }, 60_000);

    it('summarises through its chat template as a chat session would, without template markup', async () => {
      const wrap = (slice: string) => `Summarize this contract in one sentence.\n\n${slice}`;
      const ours = await host!.withSequence(undefined, (env) =>
        generate(env, { text: contract.text, wrap, maxTokens: 48 }),
      );
      expect(ours.text.trim().length).toBeGreaterThan(0);
      expect(ours.text).not.toMatch(/<\||<end_of_turn>|<start_of_turn>/);
      expect(ours.tokensOut).toBeLessThanOrEqual(48);
      const chat = await host!.withSequence(undefined, async (env) => {
        if (!env.style.chat) return undefined;
        const session = new LlamaChatSession({
          contextSequence: env.sequence,
          chatWrapper: chatWrapperOf(env.model),
          systemPrompt: SYSTEM_PROMPT,
        });
        const res = await session.promptWithMeta(wrap(contract.text), { maxTokens: 48 });
        session.dispose({ disposeSequence: false });
        return res.responseText;
      });
      // A base model has no chat session to compare with: continuation.test.ts compares plain continuation
      // with LlamaCompletion.
      if (chat === undefined) return;
      expect(ours.text).toBe(withoutRepeats(chat.trim()));
    }, 60_000);
  });
}

function expectGrounded(output: ExtractOutput, field: string): void {
  const evidence = output.evidence[field]!;
  expect(evidence.length).toBeGreaterThan(0);
  for (const e of evidence) {
    expect(e.grounded, `${field}: ${e.quote}`).toBe(true);
    expect(normalizeForQuote(contract.text.slice(e.start, e.end))).toBe(normalizeForQuote(e.quote));
  }
}
