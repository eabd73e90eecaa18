import type { SummarizeOutput, SummarizeParams, SummaryPart, SummarySource } from '../../../shared/tasks/summarize.js';
import type { TextModel } from '../../model/model-host.js';
import { pageAt, type DocumentText } from '../../text/document-text.js';
import { chunkBudget, jobOverlap } from '../../text/chunk-budget.js';
import { chunkDocument, type TextChunk } from '../../text/token-chunker.js';
import {
  fitPrefix,
  generate,
  promptTokens,
  resolveMaxTokens,
  type GenerationEnv,
  type TaskResult,
} from '../../model/generation.js';

export const DEFAULT_SUMMARY_TOKENS = 256;
/** By default consecutive chunks share this share of their tokens, so a sentence cut at a seam is read whole once. */
const OVERLAP_SHARE = 1 / 32;

type Kind = 'document' | 'part' | 'combine';
export type SummaryFocus = NonNullable<SummarizeParams['focus']>;

/**
 * What the chat prompts of a long document's parts and of their combination ask the model to keep. The contract
 * wording is the longer one, and the chunk budgets are computed with it.
 */
const KEEP: Record<SummaryFocus, { part: string; combine: string; subject: string }> = {
  contract: {
    subject: 'a contract',
    part: 'Keep the names of the parties, the governing law, dates and the term where it states them.',
    combine: 'Say who the parties are, which law governs it and how long it lasts.',
  },
  document: {
    subject: 'a document',
    part: 'Keep names, dates and figures where it states them.',
    combine: 'Say what it is, who it concerns and its key points.',
  },
};

/**
 * Prompts per step. A base model only continues text, so its prompt ends where the summary begins.
 * Part prompts name the pages so that the model (and a reader of the part summaries) can place them.
 */
export function summaryWrap(
  kind: Kind,
  chat: boolean,
  label = '',
  focus: SummaryFocus = 'contract',
): (slice: string) => string {
  const keep = KEEP[focus];
  if (kind === 'document') {
    return chat
      ? (slice) =>
          'Summarize the document below in a few sentences: what it is, who it concerns and its key points. ' +
          `Reply with the summary only.\n\n<document>\n${slice}\n</document>`
      : (slice) => `Document:\n${slice}\n\nSummary of the document above:\n`;
  }
  if (kind === 'part') {
    return chat
      ? (slice) =>
          `Summarize this part (${label}) of ${keep.subject} in two or three sentences. ${keep.part} ` +
          `Reply with the summary only.\n\n<part>\n${slice}\n</part>`
      : (slice) => `Part of a document (${label}):\n${slice}\n\nSummary of this part:\n`;
  }
  return chat
    ? (slice) =>
        `Write a short summary of ${keep.subject} from the notes below. ${keep.combine} ` +
        `Reply with the summary only.\n\n<notes>\n${slice}\n</notes>`
    : (slice) => `Summaries of the parts of a document:\n${slice}\n\nSummary of the whole document:\n`;
}

/** The prompt a document that fits one context is summarised with, around the document's text. */
export function documentSummaryPrompt(chat: boolean, text: string): string {
  return summaryWrap('document', chat)(text);
}

/** The widest label a part prompt gets, for budgeting. */
const WIDEST_LABEL = 'pages 99999–99999';

export function pagesLabel(sources: SummarySource[]): string {
  const first = sources[0]?.pageStart ?? 1;
  const last = sources.at(-1)?.pageEnd ?? first;
  return first === last ? `page ${first}` : `pages ${first}–${last}`;
}

/**
 * Summarises a document that fits one context, or one part of a summary flow. A document that does not
 * fit is summarised from its start (flows are planned by the processor before this is called).
 */
export async function summarize(
  env: GenerationEnv,
  doc: DocumentText,
  params: SummarizeParams,
  part?: SummaryPart,
): Promise<TaskResult<SummarizeOutput>> {
  const contextSize = env.sequence.contextSize;
  const maxTokens = part
    ? Math.min(part.maxTokens, Math.floor(contextSize / 2))
    : resolveMaxTokens(params.maxTokens, DEFAULT_SUMMARY_TOKENS, contextSize);
  const kind: Kind = !part ? 'document' : part.level === 0 ? 'part' : 'combine';
  const wrap = summaryWrap(kind, env.style.chat, part ? pagesLabel(part.sources) : '', params.focus);
  const res = await generate(env, { text: doc.text, wrap, maxTokens });
  const truncated = res.coveredChars < doc.text.length;
  return {
    output: {
      summary: res.text.trim(),
      truncated: truncated || (part?.truncated ?? false),
      coveredChars: res.coveredChars,
      sources: part ? readSources(part, res.coveredChars) : [wholeSource(doc, res.coveredChars)],
      parts: 0,
      levels: 0,
    },
    tokensIn: res.tokensIn,
    tokensOut: res.tokensOut,
    firstTokenAt: res.firstTokenAt,
  };
}

/** A map part read up to `covered` cites only what was read; a combine part cites what its inputs cited. */
function readSources(part: SummaryPart, covered: number): SummarySource[] {
  if (part.level > 0 || covered >= part.text.length) return part.sources;
  const [source] = part.sources;
  return source ? [{ ...source, end: source.start + covered }] : [];
}

function wholeSource(doc: DocumentText, covered: number): SummarySource {
  return { chunk: 0, start: 0, end: covered, pageStart: 1, pageEnd: pageAt(doc, Math.max(0, covered - 1)) };
}

/** How a long document's summary is split: chunks for the map round, and the output bound of every part. */
export interface SummaryPlan {
  chunks: TextChunk[];
  partTokens: number;
  /** Part summaries that surely fit one combining part's prompt, and the final step's prompt. */
  fits: { combine: number; final: number };
}

/** Undefined when the document fits one context with the summary's output budget: no flow needed. */
export function planSummary(env: TextModel, doc: DocumentText, params: SummarizeParams): SummaryPlan | undefined {
  if (params.mapReduce === false) return undefined;
  const { model, style, contextSize } = env;
  const maxTokens = resolveMaxTokens(params.maxTokens, DEFAULT_SUMMARY_TOKENS, contextSize);
  const whole = contextSize - maxTokens - promptTokens(model, style, summaryWrap('document', style.chat));
  if (fitPrefix(model, doc.text, whole) >= doc.text.length) return undefined;
  const partTokens = partBound(env, maxTokens);
  const budget = chunkBudget(
    contextSize,
    promptTokens(model, style, summaryWrap('part', style.chat, WIDEST_LABEL)),
    partTokens,
  );
  const overlapTokens = jobOverlap(params.chunkOverlapTokens, budget, Math.floor(budget * OVERLAP_SHARE));
  const chunks = chunkDocument(doc, {
    maxTokens: budget,
    overlapTokens,
    countTokens: (text) => model.tokenize(text).length,
  });
  return { chunks, partTokens, fits: combineFits(env, maxTokens, partTokens) };
}

/**
 * How many part summaries fit a combining prompt whatever they say: each is at most `partTokens` generated
 * tokens, under its pages heading. The flow's tree is planned from this before any part is summarised.
 */
function combineFits(env: TextModel, maxTokens: number, partTokens: number): SummaryPlan['fits'] {
  const { model, style, contextSize } = env;
  const overhead = promptTokens(model, style, summaryWrap('combine', style.chat)) + 8;
  // A summary's text may tokenise a little longer than the tokens that generated it.
  const each = partTokens + Math.ceil(partTokens / 16) + model.tokenize(`[${WIDEST_LABEL}]\n\n\n`).length;
  return {
    combine: Math.floor((contextSize - partTokens - overhead) / each),
    final: Math.floor((contextSize - maxTokens - overhead) / each),
  };
}

/**
 * Part summaries are bounded so that at least three fit one combining prompt: each combining round then
 * shrinks the text at least threefold and the recursion ends.
 */
function partBound(env: TextModel, maxTokens: number): number {
  const room = env.contextSize - promptTokens(env.model, env.style, summaryWrap('combine', env.style.chat));
  return Math.max(1, Math.min(maxTokens, Math.floor(room / 4)));
}

/** Part summaries in document order as one text for a combining prompt, each headed by its pages. */
export function combinedText(parts: Pick<Summarised, 'summary' | 'sources'>[]): string {
  return parts.map((p) => `[${pagesLabel(p.sources)}]\n${p.summary}`).join('\n\n');
}

interface Summarised {
  summary: string;
  sources: SummarySource[];
  truncated: boolean;
}

/**
 * The next step after a round of part summaries: the final summary if they fit one context together,
 * otherwise groups of consecutive summaries, each fitting one combining prompt.
 */
export function planCombine<P extends Summarised>(
  env: TextModel,
  parts: P[],
  params: SummarizeParams,
): { final: true } | { final: false; groups: P[][]; partTokens: number } {
  const { model, style, contextSize } = env;
  const maxTokens = resolveMaxTokens(params.maxTokens, DEFAULT_SUMMARY_TOKENS, contextSize);
  const overhead = promptTokens(model, style, summaryWrap('combine', style.chat)) + 8;
  const count = (ps: P[]) => model.tokenize(combinedText(ps)).length;
  if (count(parts) <= contextSize - maxTokens - overhead) return { final: true };
  const partTokens = partBound(env, maxTokens);
  const room = contextSize - partTokens - overhead;
  const groups: P[][] = [];
  let group: P[] = [];
  for (const part of parts) {
    if (group.length > 0 && count([...group, part]) > room) {
      groups.push(group);
      group = [];
    }
    group.push(part);
  }
  groups.push(group);
  return { final: false, groups, partTokens };
}
