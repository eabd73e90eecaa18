import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { LlamaGrammar } from 'node-llama-cpp';
import { PermanentError, TransientError } from '../../shared/errors.js';
import type { ExtractOutput, TaskParams } from '../../shared/job-types.js';
import type { DocumentText } from '../document-text.js';
import { CONTRACT_SCHEMA } from './contract-schema.js';
import { generate, resolveMaxTokens, type GenerationEnv, type TaskResult } from './generation.js';
import { boundedForGrammar, grammarProblems, maxJsonChars, minimalJson, type Caps } from './schema-grammar.js';

export const DEFAULT_EXTRACT_TOKENS = 512;

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

export async function extract(env: GenerationEnv, doc: DocumentText, params: TaskParams): Promise<TaskResult<ExtractOutput>> {
  const maxTokens = resolveMaxTokens(params.maxTokens, DEFAULT_EXTRACT_TOKENS, env.sequence.contextSize);
  const schema = params.schema ?? CONTRACT_SCHEMA;
  const validate = params.schema ? compileChecked(params.schema) : contract;
  const wrap = promptFor(env.style.chat, schema);
  const least = env.model.tokenize(JSON.stringify(minimalJson(schema))).length;
  if (least > maxTokens) {
    throw new PermanentError('bad-params', `maxTokens ${maxTokens} is too small for the schema: its shortest JSON is ${least} tokens for this model`);
  }

  let tokensIn = 0;
  let tokensOut = 0;
  const failures: string[] = [];
  let caps = FIRST_CAPS;
  for (let attempt = 1; ; attempt++) {
    const grammar = await grammarFor(env, schema, caps);
    const res = await generate(env, { text: doc.text, wrap, maxTokens, grammar });
    tokensIn += res.tokensIn;
    tokensOut += res.tokensOut;
    const parsed = parseJson(res.text);
    if (parsed.ok && validate(parsed.value)) {
      const output = {
        fields: parsed.value as Record<string, unknown>,
        truncated: res.coveredChars < doc.text.length,
        coveredChars: res.coveredChars,
      };
      return { output, tokensIn, tokensOut };
    }
    failures.push(
      res.hitMaxTokens
        ? `output reached maxTokens (${maxTokens}) before the JSON was complete`
        : parsed.ok
          ? `output does not match the schema: ${validateErrors(validate)}`
          : `output is not JSON: ${parsed.error}`,
    );
    if (attempt === 2) throw new TransientError('inference-failed', `extract: no valid output after 2 attempts: ${failures.join('; ')}`);
    const charsPerToken = res.tokensOut > 0 ? res.text.length / res.tokensOut : 1;
    caps = RETRY_CAPS.find((c) => maxJsonChars(boundedForGrammar(schema, c)) <= 0.9 * maxTokens * charsPerToken) ?? RETRY_CAPS.at(-1)!;
  }
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

function promptFor(chat: boolean, schema: Record<string, unknown>): (slice: string) => string {
  const props = Object.entries(schema.properties as Record<string, { description?: unknown }>);
  if (!chat) return (slice) => `Document:\n${slice}\n\nThe ${props.map(([k]) => k).join(', ')} of the document above, as JSON:\n`;
  const fields = props
    .map(([k, s]) => (typeof s?.description === 'string' ? `- ${k}: ${s.description}` : `- ${k}`))
    .join('\n');
  return (slice) =>
    'Extract these fields from the document below and reply with JSON only. ' +
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
