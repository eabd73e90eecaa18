import { readFile } from 'node:fs/promises';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { evaluatedPrompt, promptStyleOf } from '../../../dist/worker/model/generation.js';
import { documentSummaryPrompt } from '../../../dist/worker/tasks/summarize/summarize.js';

export interface PeerPromptsInput {
  modelPath: string;
  files: string[];
  contextSize: number;
  maxTokens: number;
}

export interface PeerPrompts {
  /** The model's chat template was used (else plain continuation). */
  chat: boolean;
  /** Per file, the token ids docfleet's summarize task evaluates for it. */
  prompts: number[][];
}

/**
 * docfleet's prompts as tokens, rendered by the worker's own code (summarize's prompt, the chat template or
 * plain continuation), so that llama-server is sent exactly what a docfleet worker evaluates.
 */
export async function peerPrompts(input: PeerPromptsInput): Promise<PeerPrompts> {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: input.modelPath, gpuLayers: 0 });
  const style = promptStyleOf(model);
  const prompts: number[][] = [];
  for (const file of input.files) {
    const tokens = evaluatedPrompt(model, style, documentSummaryPrompt(style.chat, await readFile(file, 'utf8')));
    // docfleet would cut such a document to fit; the workload is chosen so that none is cut.
    if (tokens.length + input.maxTokens > input.contextSize) {
      throw new Error(`${file}: ${tokens.length} prompt tokens leave no room for ${input.maxTokens} in the context`);
    }
    prompts.push(tokens.map(Number));
  }
  await llama.dispose();
  return { chat: style.chat, prompts };
}
