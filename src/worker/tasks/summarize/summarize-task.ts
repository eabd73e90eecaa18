import type { SummaryPart } from '../../../shared/tasks/summarize.js';
import { TASK_CATALOG } from '../../../shared/tasks/task-catalog.js';
import type { JobContext, JobOutcome, Task } from '../task.js';
import { planSummary, summarize } from './summarize.js';
import { gathered, SummaryFlow } from './summary-flow.js';

/**
 * A summary of a document. One that does not fit one context becomes a flow of part jobs (summary-flow.ts)
 * where the worker can add them; without that it is summarised from its start.
 */
export const summarizeTask: Task<'summarize'> = {
  name: 'summarize',
  ...TASK_CATALOG.summarize,
  run: ({ host, doc, params, data, signal }) =>
    host.withSequence(signal, (env) => summarize(env, doc, params, data.part)),
  planParts,
};

async function planParts(ctx: JobContext<'summarize'>): Promise<JobOutcome<'summarize'> | undefined> {
  const data = ctx.job.data;
  if (data.part) return summarizePart(ctx, data.part);
  if (!ctx.flows) return undefined;
  const flow = new SummaryFlow(ctx, ctx.flows);
  let state = data.flow;
  let pages = 0;
  if (!state) {
    const loaded = await ctx.document();
    const plan = planSummary(ctx.host.textModel, loaded.doc, ctx.params);
    if (!plan) return undefined;
    state = await flow.start(loaded, plan);
    pages = loaded.pages;
    ctx.note(
      { parts: state.chunks, pages: state.pages },
      'document too long for one context: summarising it as a flow',
    );
  }
  const step = await flow.advance(state);
  if (step.waiting) return { waiting: true, pages, log: { parts: step.parts, level: step.level } };
  const s = step.state;
  // Pages were counted when the flow started; the document's latency is the whole flow's.
  return {
    waiting: false,
    run: step.run,
    doc: { pages: s.pages, chars: s.chars, fetchMs: s.fetchMs, parseMs: s.parseMs, since: s.startedAt, parsedNow: 0 },
    earlier: { tokensIn: s.tokensIn, tokensOut: s.tokensOut },
  };
}

/**
 * A child of a flow: its text travels in the job, or is the summaries of its own children; its summary goes to
 * the parent with the tokens of the whole subtree.
 */
async function summarizePart(ctx: JobContext<'summarize'>, planned: SummaryPart): Promise<JobOutcome<'summarize'>> {
  const { part, children } = planned.gathers ? await gathered(ctx.job, planned) : { part: planned, children: [] };
  const run = await ctx.run({ ...ctx.job.data, part }, { text: part.text, pageStarts: [0] });
  const { round, level, index } = part;
  const { summary, sources, truncated } = run.output;
  const tokensIn = children.reduce((n, c) => n + c.tokensIn, run.tokensIn);
  const tokensOut = children.reduce((n, c) => n + c.tokensOut, run.tokensOut);
  return {
    waiting: false,
    run,
    doc: { pages: 0, chars: part.text.length, fetchMs: 0, parseMs: 0, since: ctx.started, parsedNow: 0 },
    forParent: { round, level, index, summary, sources, truncated, tokensIn, tokensOut },
  };
}
