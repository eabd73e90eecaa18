import {
  ChatMLChatWrapper,
  LlamaChatSession,
  type ChatWrapper,
  LlamaCompletion,
  resolveChatWrapper,
  type ChatHistoryItem,
  type GgufMetadata,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import { PermanentError } from '../../shared/errors.js';
import { continueTokens } from './continuation.js';
import { perModel } from './per-model.js';
import { withoutRepeats } from './repeated-sentence.js';

/**
 * Shared by the generating tasks: fit as much of the document as the context allows, prompt the model
 * the way it was trained (chat template or plain continuation) and account for every token.
 */

/** How a model is prompted: through its chat template, or by plain text continuation (base models). */
export interface PromptStyle {
  chat: boolean;
  /** Tokens the chat template (with our system prompt) wraps around one user message. */
  templateTokens: number;
}

export interface GenerationEnv {
  model: LlamaModel;
  sequence: LlamaContextSequence;
  style: PromptStyle;
  signal?: AbortSignal;
}

export interface GenerateRequest {
  text: string;
  /** The user message (chat) or the whole prompt (continuation) around a slice of the document. */
  wrap: (docSlice: string) => string;
  maxTokens: number;
  grammar?: LlamaGrammar;
  /**
   * What of the document goes into the prompt, given the tokens it may take: by default the longest prefix of
   * `text` that fits. Called again with a smaller budget if the prompt turns out longer than counted.
   */
  select?: (budget: number) => { text: string; coveredChars: number };
}

/** What a task hands back to the host, which adds the timing. */
export interface TaskResult<T> {
  output: T;
  tokensIn: number;
  tokensOut: number;
  /** performance.now() when the first output token came out, where the task measured it. */
  firstTokenAt?: number;
}

export interface GenerateResult {
  text: string;
  /** The output stopped at maxTokens, so it may be incomplete. */
  hitMaxTokens: boolean;
  coveredChars: number;
  tokensIn: number;
  tokensOut: number;
  /** performance.now() when the first output token came out (undefined if none did). */
  firstTokenAt?: number;
}

export const SYSTEM_PROMPT =
  'You process documents. Follow the instructions exactly and answer only from the document.';
/** Room for what a template may add around the answer (e.g. an empty thinking block). */
const CHAT_MARGIN = 16;

/**
 * The model's chat template. ChatMLChatWrapper writes BOS before the template, which for a model whose BOS is
 * `<|im_start|>` (SmolLM2) doubles that token; the GGUF's own template (Jinja) is then followed as written.
 */
export const chatWrapperOf = perModel((model): ChatWrapper => {
  // Resolved once per model: resolving parses the template.
  const wrapper = resolveChatWrapper(model);
  return wrapper instanceof ChatMLChatWrapper && model.tokens.bosString === '<|im_start|>'
    ? resolveChatWrapper(model, { type: 'jinjaTemplate' })
    : wrapper;
});

export function promptStyleOf(model: LlamaModel): PromptStyle {
  // The metadata is what the file holds, whatever its type says: a section may be missing.
  const metadata: Partial<GgufMetadata> = model.fileInfo.metadata;
  if (!metadata.tokenizer?.chat_template) return { chat: false, templateTokens: 0 };
  return { chat: true, templateTokens: evaluatedPrompt(model, { chat: true, templateTokens: 0 }, '').length };
}

/**
 * The tokens a sequence evaluates for `prompt` (a wrapped document slice), as `generate` sends them: the chat
 * template with the system prompt around it, or BOS and the plain text. Lets a benchmark send another engine
 * exactly docfleet's prompt.
 */
export function evaluatedPrompt(model: LlamaModel, style: PromptStyle, prompt: string): Token[] {
  if (!style.chat) {
    const tokens = tokenize(model, prompt);
    return prependsBos(model) ? [model.tokens.bos!, ...tokens] : tokens;
  }
  return chatState(model, prompt).contextText.tokenize(model.tokenizer);
}

function chatState(model: LlamaModel, prompt: string) {
  const wrapper = chatWrapperOf(model);
  const history: ChatHistoryItem[] = [
    ...wrapper.generateInitialChatHistory({ systemPrompt: SYSTEM_PROMPT }),
    { type: 'user', text: prompt },
    { type: 'model', response: [] },
  ];
  return wrapper.generateContextState({ chatHistory: history });
}

/** The token sequences that end the model's turn under its chat template. */
const chatStopsOf = perModel((model): Token[][] =>
  chatState(model, '').stopGenerationTriggers.map((t) => t.tokenize(model.tokenizer)),
);

/** Whether the model's chat template has a thinking segment (reasoning models such as Qwen3). */
function thinks(model: LlamaModel): boolean {
  return chatWrapperOf(model).settings.segments?.thought != null;
}

/** The generation bound a job asks for, checked against what this worker's context can hold. */
export function resolveMaxTokens(requested: number | undefined, fallback: number, contextSize: number): number {
  const max = Math.floor(contextSize / 2);
  const n = requested ?? Math.min(fallback, max);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new PermanentError(
      'bad-params',
      `maxTokens must be an integer from 1 to ${max} (half of this worker's ${contextSize}-token context); got ${requested}`,
    );
  }
  return n;
}

export async function generate(env: GenerationEnv, req: GenerateRequest): Promise<GenerateResult> {
  const { model, sequence, style } = env;
  const bos = prependsBos(model) ? 1 : 0;
  const fixed = promptTokens(model, style, req.wrap);
  let budget = sequence.contextSize - req.maxTokens - fixed;
  if (budget < 1) throw new PermanentError('bad-params', `maxTokens ${req.maxTokens} leaves no room for the document`);

  // The document's tokens inside the prompt can differ slightly from its tokens alone (merges at the
  // seams), so a continuation prompt is tokenised whole and the document trimmed until it truly fits.
  const select =
    req.select ??
    ((b: number) => {
      const n = fitPrefix(model, req.text, b);
      return { text: req.text.slice(0, n), coveredChars: n };
    });
  let selected = select(budget);
  let prompt = req.wrap(selected.text);
  // Free text is generated on the sequence from the exact prompt tokens, except from a model that may think
  // first: a chat session holds its thoughts to a budget. An exact prompt is tokenised whole and the document
  // trimmed until it truly fits: a slice's tokens inside the prompt can differ from its tokens alone.
  const direct = !req.grammar && !(style.chat && thinks(model));
  const exact = direct || !style.chat;
  let tokens = exact ? evaluatedPrompt(model, style, prompt) : [];
  for (let i = 0; exact && tokens.length + req.maxTokens > sequence.contextSize; i++) {
    if (i === 3) throw new Error('could not fit the prompt into the context');
    budget -= tokens.length + req.maxTokens - sequence.contextSize + 4;
    selected = select(budget);
    prompt = req.wrap(selected.text);
    tokens = evaluatedPrompt(model, style, prompt);
  }

  const before = sequence.tokenMeter.getState();
  const common = { maxTokens: req.maxTokens, grammar: req.grammar, signal: env.signal };
  let text: string;
  let stopReason: string;
  let firstTokenAt: number | undefined;
  const onToken = () => (firstTokenAt ??= performance.now());
  if (direct) {
    // Sampled as a chat session would; a chat model's free text stops where it starts looping.
    const res = await continueTokens(model, sequence, tokens, req.maxTokens, {
      signal: env.signal,
      stops: style.chat ? chatStopsOf(model) : [],
      stopAtRepeat: style.chat,
    });
    text = withoutRepeats(style.chat ? res.text.trim() : res.text);
    stopReason = res.stopReason;
    firstTokenAt = res.firstTokenAt;
  } else if (style.chat) {
    const session = new LlamaChatSession({
      contextSequence: sequence,
      systemPrompt: SYSTEM_PROMPT,
      chatWrapper: chatWrapperOf(model),
    });
    try {
      // Thinking would spend the output budget on text nobody reads.
      const res = await session.promptWithMeta(prompt, { ...common, budgets: { thoughtTokens: 0 }, onToken });
      text = req.grammar ? res.responseText : withoutRepeats(res.responseText);
      stopReason = res.stopReason;
    } finally {
      session.dispose({ disposeSequence: false });
    }
  } else {
    const completion = new LlamaCompletion({ contextSequence: sequence });
    try {
      // No context shift: it would silently drop the start of the prompt.
      const res = await completion.generateCompletionWithMeta(tokens.slice(bos), {
        ...common,
        disableContextShift: true,
        contextShiftSize: 0,
        onToken,
      });
      text = res.response;
      stopReason = res.metadata.stopReason;
    } finally {
      completion.dispose();
    }
  }
  const used = sequence.tokenMeter.diff(before);
  return {
    text,
    hitMaxTokens: stopReason === 'maxTokens',
    coveredChars: selected.coveredChars,
    tokensIn: used.usedInputTokens,
    tokensOut: used.usedOutputTokens,
    firstTokenAt,
  };
}

/** Tokens a prompt takes around the document slice: BOS, the wrapping text and the chat template. */
export function promptTokens(model: LlamaModel, style: PromptStyle, wrap: (docSlice: string) => string): number {
  const bos = prependsBos(model) ? 1 : 0;
  return bos + count(model, wrap('')) + (style.chat ? style.templateTokens + CHAT_MARGIN : 0);
}

/**
 * Characters of `text` whose tokens fit `budget`: all of it, or a prefix ending at a paragraph,
 * sentence or word boundary close to the limit. Long documents are tokenised only as far as needed.
 */
export function fitPrefix(model: LlamaModel, text: string, budget: number): number {
  if (budget <= 0) return 0;
  let end = Math.min(text.length, budget * 4);
  let tokens = tokenize(model, text.slice(0, end));
  while (tokens.length <= budget && end < text.length) {
    end = Math.min(text.length, end * 2);
    tokens = tokenize(model, text.slice(0, end));
  }
  if (tokens.length <= budget) return text.length;
  let cut = Math.min(end, model.detokenize(tokens.slice(0, budget)).length);
  for (;;) {
    const at = boundaryBefore(text, Math.max(0, cut));
    const n = count(model, text.slice(0, at));
    if (n <= budget || at === 0) return at;
    cut = Math.floor((at * budget) / n) - 1;
  }
}

/**
 * Where to cut `text` at or before `cut` but not before `min`: after the last paragraph break in that
 * window, else after the last sentence end, else at the last whitespace, else at `cut` itself.
 */
export function boundaryBefore(text: string, cut: number, min = Math.max(0, cut - 500)): number {
  const head = text.slice(min, cut);
  const para = head.lastIndexOf('\n\n');
  if (para >= 0) return min + para + 2;
  const sentence = [...head.matchAll(/[.!?]["')\]]?\s/g)].pop();
  if (sentence) return min + sentence.index + sentence[0].length;
  const space = head.search(/\s\S*$/);
  if (space >= 0) return min + space + 1;
  // Never split a surrogate pair.
  const code = text.charCodeAt(cut - 1);
  return code >= 0xd800 && code <= 0xdbff ? cut - 1 : cut;
}

/** As LlamaCompletion tokenises a string prompt, since we hand it tokens instead. */
function tokenize(model: LlamaModel, text: string) {
  return model.tokenize(text, false, prependsBos(model) ? 'trimLeadingSpace' : undefined);
}

function prependsBos(model: LlamaModel): boolean {
  return model.tokens.bos !== null && model.tokens.shouldPrependBosToken;
}

function count(model: LlamaModel, text: string): number {
  return text === '' ? 0 : tokenize(model, text).length;
}
