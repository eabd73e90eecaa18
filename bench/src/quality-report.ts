import { score, type LabelledDoc, type Prediction } from '../../dist/eval/score.js';
import { markdownTable, round } from './common.js';
import type { GroundingCheck, SummaryCheck } from './quality-measures.js';

/** The quality benchmark's results for one model: what it ran per document, and the tables made of them. */

/** The ways of extracting that the benchmark compares: docfleet's two methods and the naive baseline. */
export const METHODS = ['quote', 'choose', 'baseline'] as const;
export type Method = (typeof METHODS)[number];
/** `quote` is left out by default: with small models it finds nothing and costs most of a contract's time. */
export const DEFAULT_QUALITY_METHODS: readonly Method[] = ['choose', 'baseline'];

export interface StepResult {
  fields: Record<string, unknown>;
  grounding: GroundingCheck;
  seconds: number;
  error?: string;
}

export interface DocRun {
  file: string;
  pages: number;
  quote?: StepResult;
  choose?: StepResult;
  baseline?: StepResult;
  summary?: { text: string; parts: number; check: SummaryCheck; seconds: number; error?: string };
  tokensIn: number;
  tokensOut: number;
  seconds: number;
}

export interface ModelRuns {
  model: string;
  threads: number;
  contextSize: number;
  methods: readonly Method[];
  runs: DocRun[];
  speed?: { promptTokS: number; genTokS: number };
}

/** The share of reported-grounded values that must really be at their offsets (issue 15's acceptance). */
export const AT_OFFSETS_REQUIRED = 0.95;

const pct = (n: number | null | undefined) => (n === null || n === undefined ? '–' : `${Math.round(n * 100)}%`);
const share = (a: number, b: number) => (b > 0 ? a / b : null);

export function report(m: ModelRuns, labels: LabelledDoc[], texts: Map<string, string>) {
  const { runs, methods, speed } = m;
  const done = labels.filter((l) => runs.some((r) => r.file === l.file));
  const scores = Object.fromEntries(
    methods.map((k) => [
      k,
      score(
        done,
        runs.map((r) => ({ file: r.file, fields: stringFields(r[k]?.fields ?? {}) })),
        texts,
      ),
    ]),
  ) as Partial<Record<Method, ReturnType<typeof score>>>;
  const grounded = methods.filter((k) => k !== 'baseline');
  const grounding = Object.fromEntries(
    grounded.map((k) => [
      k,
      runs.reduce(
        (a, r) => {
          const x = r[k]?.grounding;
          if (x) for (const f of Object.keys(a) as (keyof GroundingCheck)[]) a[f] += x[f];
          return a;
        },
        { values: 0, grounded: 0, atOffsets: 0, groundedCorrect: 0 },
      ),
    ]),
  ) as Partial<Record<Method, GroundingCheck>>;
  const checks = runs.flatMap((r) => (r.summary ? [r.summary.check] : []));
  const named = (k: 'parties' | 'governingLaw' | 'term') => {
    const known = checks.filter((c) => c[k] !== null);
    return `${known.filter((c) => c[k]).length}/${known.length}`;
  };
  const sentences = checks.reduce((n, c) => n + c.sentences, 0);
  const supported = checks.reduce((n, c) => n + c.supported, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const pages = runs.reduce((n, r) => n + r.pages, 0);
  // What a worker does per contract (the default extraction and the summary), without the bench's comparisons.
  const workerSeconds = runs.reduce((n, r) => n + (r.choose?.seconds ?? 0) + (r.summary?.seconds ?? 0), 0);
  const through = {
    ...speed,
    tokensIn: runs.reduce((n, r) => n + r.tokensIn, 0),
    tokensOut: runs.reduce((n, r) => n + r.tokensOut, 0),
    documentsPerMinute: round((runs.length / Math.max(1e-9, seconds)) * 60, 2),
    secondsPer100Pages: round((seconds / Math.max(1, pages)) * 100),
    worker: {
      documentsPerMinute: round((runs.length / Math.max(1e-9, workerSeconds)) * 60, 2),
      secondsPer100Pages: round((workerSeconds / Math.max(1, pages)) * 100),
    },
  };
  type Row = ReturnType<typeof score>['overall'];
  const cells = (c: Row) => [c.predicted, pct(c.precision), pct(c.recall), pct(c.f1)];
  const lead = methods[0];
  type Field = keyof ReturnType<typeof score>['fields'];
  const fieldRows = !lead
    ? []
    : [...(Object.keys(scores[lead]!.fields) as Field[]), 'overall' as const].map((f) => {
        const of = (k: Method) => (f === 'overall' ? scores[k]!.overall : scores[k]!.fields[f]);
        return [f, of(lead).support, ...methods.flatMap((k) => cells(of(k)))];
      });
  const groundingLine = (k: Method) => {
    const g = grounding[k]!;
    const atShare = share(g.atOffsets, g.grounded);
    const verdict = atShare === null ? '' : atShare >= AT_OFFSETS_REQUIRED ? ' ≥ 95%: pass' : ' < 95%: FAIL';
    return (
      `Grounding (${k}): ${g.grounded}/${g.values} values with their quote found (${pct(share(g.grounded, g.values))}); ` +
      `at the reported offsets ${g.atOffsets}/${g.grounded} (${pct(atShare)}${verdict}); ` +
      `grounded and correct ${g.groundedCorrect}/${g.grounded} (${pct(share(g.groundedCorrect, g.grounded))}).`
    );
  };
  const errors = runs.flatMap((r) =>
    ([...methods, 'summary'] as const).flatMap((k) => (r[k]?.error ? [`${r.file} ${k}: ${r[k].error}`] : [])),
  );
  const explained: Record<Method, string> = {
    quote: 'quote: the model writes each value with a verbatim quote',
    choose: 'choose: it picks per field one of the sentences ranked best by keywords (the default method)',
    baseline: 'baseline: the start of the document that fits, plain contract schema, no passages, no quotes',
  };
  const text = [
    `### ${m.model} (${runs.length} contracts, ${pages} pages, ${m.threads} thread(s), context ${m.contextSize})`,
    '',
    ...(lead
      ? [
          markdownTable(['field', 'labelled', ...methods.flatMap((k) => [`${k} values`, 'P', 'R', 'F1'])], fieldRows),
          '',
          `${methods.map((k) => explained[k]).join('; ')}.`,
          '',
        ]
      : []),
    ...grounded.map(groundingLine),
    `Summaries: name the parties ${named('parties')}, the governing law ${named('governingLaw')}, the term ${named('term')}; ` +
      `sentences supported by the source ${supported}/${sentences} (${pct(share(supported, sentences))}).`,
    `Throughput: prompt ${speed?.promptTokS ?? '–'} tok/s, generation ${speed?.genTokS ?? '–'} tok/s; ` +
      `${through.tokensIn} tokens in, ${through.tokensOut} out; ${through.documentsPerMinute} documents/min ` +
      `(${[...methods, 'summary'].join(', ')} each), ${through.secondsPer100Pages} s per 100 pages; ` +
      `as a worker (extract by choose, summarize): ${through.worker.documentsPerMinute} documents/min, ` +
      `${through.worker.secondsPer100Pages} s per 100 pages.`,
    ...(errors.length > 0 ? ['', 'Errors:', ...errors.map((e) => `- ${e}`)] : []),
  ].join('\n');
  return {
    json: {
      threads: m.threads,
      contextSize: m.contextSize,
      methods,
      scores,
      grounding,
      summaries: { parties: named('parties'), governingLaw: named('governingLaw'), term: named('term') },
      throughput: through,
      runs,
    },
    text,
  };
}

function stringFields(fields: Record<string, unknown>): Prediction['fields'] {
  const out: Prediction['fields'] = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k as keyof Prediction['fields']] =
      typeof v === 'string' ? v : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null;
  }
  return out;
}
