import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { LlamaGrammar } from 'node-llama-cpp';
import { PermanentError, TransientError } from '../../../shared/errors.js';
import type { ExtractOutput, ExtractParams } from '../../../shared/tasks/extract.js';
import { CandidatePassages, type PassageSelection } from './candidate-passages.js';
import type { DocumentText } from '../../text/document-text.js';
import { QuoteIndex } from './quote-finder.js';
import { checkQuotes } from './check-quotes.js';
import { CONTRACT_SCHEMA } from './contract-schema.js';
import { choosable, chooseValues } from './choose-values.js';
import { generate, resolveMaxTokens, type GenerationEnv, type TaskResult } from '../../model/generation.js';
import { fromGrounded, groundedSchema, type GroundedAnswer, type GroundedPlan } from './grounded-schema.js';
import { boundedForGrammar, grammarProblems, maxJsonChars, minimalJson, type Caps } from './schema-grammar.js';

/**
 * Grounded extraction: the model answers in a schema derived from the job's (grounded-schema.ts) where every
 * value carries a verbatim quote and its page; the values become `fields`, valid against the job's schema, and
 * every quote is looked up in the whole document text, so a value the document does not state is reported
 * as ungrounded rather than passed off as a fact. A document too long for the context is read as the passages
 * most likely to state each field (candidate-passages.ts), not as its first pages.
 */

/** Room for every value and its quote (about twice the JSON of the values alone). */
export const DEFAULT_EXTRACT_TOKENS = 1024;

/** The first attempt bounds only what the schema leaves unbounded. */
const FIRST_CAPS: Caps = { maxLength: 300, maxItems: 16 };
/**
 * If that output runs into maxTokens (or is somehow invalid), the one retry takes the loosest of these
 * whose longest possible JSON fits maxTokens at the characters per token the model just showed.
 */
const RETRY_CAPS: Caps[] = [
  { maxLength: 40, maxItems: 3 },
  { maxLength: 24, maxItems: 2 },
  { maxLength: 12, maxItems: 2 },
  { maxLength: 6, maxItems: 1 },
  { maxLength: 1, maxItems: 1 },
];

const contract = compileChecked(CONTRACT_SCHEMA);

export async function extract(
  env: GenerationEnv,
  doc: DocumentText,
  params: ExtractParams,
): Promise<TaskResult<ExtractOutput>> {
  const maxTokens = resolveMaxTokens(params.maxTokens, DEFAULT_EXTRACT_TOKENS, env.sequence.contextSize);
  const schema = params.schema ?? CONTRACT_SCHEMA;
  const validate = params.schema ? compileChecked(params.schema) : contract;
  const plan = groundedSchema(schema, { pages: doc.pageStarts.length });
  // Small models cannot write a value with its verbatim quote (docs/models.md#quality), so `choose` is the
  // default wherever it can fill the schema.
  const method = params.method ?? (choosable(schema) ? 'choose' : 'quote');
  if (method === 'choose') return chooseValues(env, doc, schema, plan);
  const wrap = promptFor(env.style.chat, plan);
  const least = env.model.tokenize(JSON.stringify(minimalJson(plan.schema))).length;
  if (least > maxTokens) {
    throw new PermanentError(
      'bad-params',
      `maxTokens ${maxTokens} is too small for the schema: its shortest JSON is ${least} tokens for this model`,
    );
  }

  const candidates = new CandidatePassages(doc, plan.fields, { countTokens: (t) => env.model.tokenize(t).length });
  // generate() may select twice (when the prompt comes out longer than counted): the last selection is what was read.
  let selected: PassageSelection | undefined;
  const select = (budget: number) => (selected = candidates.select(budget));

  let tokensIn = 0;
  let tokensOut = 0;
  const failures: string[] = [];
  let caps = FIRST_CAPS;
  for (let attempt = 1; ; attempt++) {
    const grammar = await grammarFor(env, plan.schema, caps);
    const res = await generate(env, { text: doc.text, wrap, maxTokens, grammar, select });
    tokensIn += res.tokensIn;
    tokensOut += res.tokensOut;
    const parsed = parseJson(res.text);
    const answer = parsed.ok ? fromGrounded(parsed.value, plan) : undefined;
    if (typeof answer === 'object' && validate(answer.fields)) {
      return { output: groundedOutput(doc, plan, answer, selected!), tokensIn, tokensOut };
    }
    failures.push(
      res.hitMaxTokens
        ? `output reached maxTokens (${maxTokens}) before the JSON was complete`
        : !parsed.ok
          ? `output is not JSON: ${parsed.error}`
          : typeof answer === 'string'
            ? `output does not have the grounded shape: ${answer}`
            : `output does not match the schema: ${validateErrors(validate)}`,
    );
    if (attempt === 2)
      throw new TransientError('inference-failed', `extract: no valid output after 2 attempts: ${failures.join('; ')}`);
    const charsPerToken = res.tokensOut > 0 ? res.text.length / res.tokensOut : 1;
    caps =
      RETRY_CAPS.find((c) => maxJsonChars(boundedForGrammar(plan.schema, c)) <= 0.9 * maxTokens * charsPerToken) ??
      RETRY_CAPS.at(-1)!;
  }
}

/** The values, the evidence for each and what the model read. */
export function groundedOutput(
  doc: DocumentText,
  plan: GroundedPlan,
  answer: GroundedAnswer,
  selected: PassageSelection,
  index = new QuoteIndex(doc.text),
): ExtractOutput {
  const { evidence, ungrounded } = checkQuotes(doc, answer.claims, {
    fieldNames: plan.fields.map((f) => f.name),
    index,
    passages: selected.passages,
  });
  const output: ExtractOutput = {
    fields: answer.fields,
    evidence,
    ungrounded,
    truncated: !selected.whole,
    coveredChars: selected.coveredChars,
  };
  if (!selected.whole)
    output.passages = selected.passages.map(({ start, end, pageStart, pageEnd, fields }) => ({
      start,
      end,
      pageStart,
      pageEnd,
      fields,
    }));
  return output;
}

/** A validator for a schema the grammar can enforce, or PermanentError('bad-params') saying why not. */
function compileChecked(schema: Record<string, unknown>): ValidateFunction {
  const problems = grammarProblems(schema);
  if (schema.type !== 'object' || typeof schema.properties !== 'object') {
    problems.unshift('#: the root must be {"type": "object", "properties": {...}}');
  }
  if (problems.length > 0) throw new PermanentError('bad-params', `params.schema: ${problems.join('; ')}`);
  // A fresh instance per schema: Ajv keeps every schema it compiles, and user schemas may reuse $ids.
  const ajv = new Ajv2020({ allErrors: true, strict: false, logger: false });
  // The same shapes the grammar generates for these formats.
  const date = '\\d{4}-(0[1-9]|1[012])-(0[1-9]|[12]\\d|3[01])';
  const time = '([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{3})?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)';
  ajv.addFormat('date', new RegExp(`^${date}$`));
  ajv.addFormat('time', new RegExp(`^${time}$`));
  ajv.addFormat('date-time', new RegExp(`^${date}T${time}$`));
  try {
    return ajv.compile(schema);
  } catch (err) {
    throw new PermanentError('bad-params', `params.schema is not a valid JSON Schema: ${(err as Error).message}`);
  }
}

async function grammarFor(env: GenerationEnv, schema: Record<string, unknown>, caps: Caps): Promise<LlamaGrammar> {
  try {
    return await env.model.llama.createGrammarForJsonSchema(boundedForGrammar(schema, caps));
  } catch (err) {
    throw new PermanentError('bad-params', `params.schema cannot be turned into a grammar: ${(err as Error).message}`);
  }
}

function promptFor(chat: boolean, plan: GroundedPlan): (slice: string) => string {
  const names = plan.fields.map((f) => f.name);
  if (!chat)
    return (slice) =>
      `Document:\n${slice}\n\nThe ${names.join(', ')} of the document above, each with a verbatim quote and its page, as JSON:\n`;
  const fields = plan.fields
    .map(
      (f) =>
        `- ${f.name}${f.description ? `: ${f.description}` : ''}${f.kind === 'list' ? ' (a list: cite each item)' : ''}`,
    )
    .join('\n');
  return (slice) =>
    'Extract these fields from the document below and reply with JSON only. For every value give "quote": the words ' +
    'of the document that state it, copied exactly, and "page": the number N of the [page N] label the quote follows. ' +
    `Use null for a field the document does not state.\n${fields}\n\n<document>\n${slice}\n</document>`;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

function validateErrors(validate: ValidateFunction): string {
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join(', ');
}
