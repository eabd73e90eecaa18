import type { SummarizeOutput, TaskParams } from '../../shared/job-types.js';
import type { DocumentText } from '../document-text.js';
import { generate, resolveMaxTokens, type GenerationEnv, type TaskResult } from './generation.js';

export const DEFAULT_SUMMARY_TOKENS = 256;

export async function summarize(
  env: GenerationEnv,
  doc: DocumentText,
  params: TaskParams,
): Promise<TaskResult<SummarizeOutput>> {
  const maxTokens = resolveMaxTokens(params.maxTokens, DEFAULT_SUMMARY_TOKENS, env.sequence.contextSize);
  const wrap = env.style.chat
    ? (slice: string) =>
        'Summarize the document below in a few sentences: what it is, who it concerns and its key points. ' +
        `Reply with the summary only.\n\n<document>\n${slice}\n</document>`
    : // A base model only continues text, so the prompt ends where a summary would begin.
      (slice: string) => `Document:\n${slice}\n\nSummary of the document above:\n`;
  const res = await generate(env, { text: doc.text, wrap, maxTokens });
  return {
    output: {
      summary: res.text.trim(),
      truncated: res.coveredChars < doc.text.length,
      coveredChars: res.coveredChars,
    },
    tokensIn: res.tokensIn,
    tokensOut: res.tokensOut,
  };
}
