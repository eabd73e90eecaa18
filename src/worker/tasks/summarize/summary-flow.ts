import { randomBytes } from 'node:crypto';
import type { FlowJob, FlowProducer, Job } from 'bullmq';
import { PermanentError, TransientError } from '../../../shared/errors.js';
import type { JobData } from '../../../shared/job-types.js';
import type { PartSummary, SummarizeOutput, SummaryFlowState, SummaryPart } from '../../../shared/tasks/summarize.js';
import type { LoadedDocument } from '../../text/document-loader.js';
import { resolveMaxTokens } from '../../model/generation.js';
import type { JobContext, TaskRun } from '../task.js';
import { combinedText, DEFAULT_SUMMARY_TOKENS, planCombine, type SummaryPlan } from './summarize.js';

/** Where a parent's run leaves it: waiting for its children, or with the document's summary. */
export type FlowStep =
  | { waiting: true; parts: number; level: number }
  | { waiting: false; run: TaskRun<'summarize'>; state: SummaryFlowState };

/**
 * Map-reduce summaries of long documents as BullMQ flows. The document's own job becomes the parent: its
 * first run chunks the text and adds a tree of child jobs to its own queue, so every free worker of the right
 * role and tag takes part: one leaf per chunk, under combining parts of as many summaries as surely fit one
 * prompt. BullMQ starts a combining part as soon as its own children are done, so combining runs alongside the
 * rest of the map round instead of after it. When the tree's top is done BullMQ wakes the parent, which
 * combines those summaries — or, should they still not fit one context, adds a round of combining children.
 *
 * The parent keeps its progress in its job data (`flow`), so a woken or restarted parent never re-reads
 * the document; a child that fails is retried on its own, like any job. Children are LIFO so that a
 * started document finishes before new documents start.
 */
export class SummaryFlow {
  private readonly job: Job<JobData>;

  /** The flow of the context's job; `flows` adds its children. */
  constructor(
    private readonly ctx: JobContext<'summarize'>,
    private readonly flows: FlowProducer,
  ) {
    this.job = ctx.job;
  }

  /** The flow for a document too long for one context: adds the tree of its parts. */
  async start(loaded: LoadedDocument, plan: SummaryPlan): Promise<SummaryFlowState> {
    const round = newRound();
    let nodes: FlowJob[] = plan.chunks.map((c) =>
      this.child({
        round,
        level: 0,
        index: c.index,
        text: c.text,
        maxTokens: plan.partTokens,
        sources: [{ chunk: c.index, start: c.start, end: c.end, pageStart: c.pageStart, pageEnd: c.pageEnd }],
        truncated: false,
      }),
    );
    let level = 0;
    // Each level shrinks the count at least twofold, down to what the final step surely takes.
    while (plan.fits.combine >= 2 && nodes.length > Math.max(1, plan.fits.final)) {
      level++;
      const groups = evenGroups(nodes, plan.fits.combine);
      nodes = groups.map((children, index) => ({
        ...this.child({
          round,
          level,
          index,
          text: '',
          maxTokens: plan.partTokens,
          sources: [],
          truncated: false,
          gathers: children.length,
        }),
        children,
      }));
    }
    const state: SummaryFlowState = {
      round,
      level,
      parts: nodes.length,
      chunks: plan.chunks.length,
      pages: loaded.pages,
      chars: loaded.doc.text.length,
      fetchMs: loaded.fetchMs,
      parseMs: loaded.parseMs,
      startedAt: Date.now(),
      tokensIn: 0,
      tokensOut: 0,
    };
    await this.fanOut(state, nodes);
    return state;
  }

  /**
   * Moves the flow on: waits while children of the current round are pending, otherwise collects them and
   * either adds the next combining round or writes the final summary (in this run, on this worker's slot).
   */
  async advance(state: SummaryFlowState): Promise<FlowStep> {
    const { job, token } = this.ctx;
    for (;;) {
      if (await job.moveToWaitingChildren(token!)) return { waiting: true, parts: state.parts, level: state.level };
      const done = await this.collect(state);
      state = {
        ...state,
        tokensIn: state.tokensIn + sum(done, 'tokensIn'),
        tokensOut: state.tokensOut + sum(done, 'tokensOut'),
      };
      const env = this.ctx.host.textModel;
      const next = planCombine(env, done, this.ctx.params);
      if (next.final) return { waiting: false, run: await this.finish(state, done), state };
      if (next.groups.length >= done.length) {
        throw new PermanentError(
          'bad-params',
          `summary flow cannot shrink ${done.length} part summaries into this worker's ${env.contextSize}-token context; use a larger --context-size or a smaller maxTokens`,
        );
      }
      const round = newRound();
      const parts = next.groups.map((group, index) =>
        this.child(combining(group, { round, level: state.level + 1, index, maxTokens: next.partTokens })),
      );
      state = { ...state, round, level: state.level + 1, parts: parts.length };
      await this.fanOut(state, parts);
    }
  }

  /**
   * Children first, then the parent's state: a parent that dies in between starts a new round on its next
   * run (work repeated, nothing lost), whereas the other order could leave it waiting for children that
   * were never added.
   */
  private async fanOut(state: SummaryFlowState, nodes: FlowJob[]): Promise<void> {
    const job = this.job;
    const parent = { id: job.id!, queue: job.queueQualifiedName };
    await this.flows.addBulk(nodes.map((n) => ({ ...n, opts: { ...n.opts, parent } })));
    await job.updateData({ ...job.data, flow: state });
  }

  /** A child job of this flow for `part`; BullMQ sets the parent of children nested in a tree. */
  private child(part: SummaryPart): FlowJob {
    const job = this.job;
    const { flow: _flow, ...data } = job.data;
    const opts = job.opts;
    // Leaves keep the ids they always had; a combining part's level tells it from the leaf of its index.
    const id = part.level === 0 ? `${part.round}.${part.index}` : `${part.round}.${part.level}-${part.index}`;
    return {
      name: `${data.task}-part`,
      queueName: job.queueName,
      prefix: job.prefix,
      data: { ...data, part } satisfies JobData,
      opts: {
        jobId: `${job.id}.${id}`,
        attempts: opts.attempts,
        backoff: opts.backoff,
        priority: opts.priority,
        lifo: true,
        // The parent learns of a child that failed all its attempts and fails the document with its reason.
        ignoreDependencyOnFailure: true,
        // A child's summary is copied into the parent on completion; the child itself is not needed after.
        removeOnComplete: true,
        removeOnFail: { age: 7 * 86_400 },
      },
    };
  }

  /** The current round's summaries in document order; a failed child fails the document. */
  private async collect(state: SummaryFlowState): Promise<PartSummary[]> {
    try {
      return await childSummaries(this.job, state.round, state.parts);
    } catch (err) {
      if (!(err as Error).message.startsWith(LOST)) throw err;
      // Children were removed by hand, or their results were lost with Redis: start the document again.
      await this.job.updateData({ ...this.job.data, flow: undefined });
      throw new TransientError('internal', (err as Error).message);
    }
  }

  private async finish(state: SummaryFlowState, done: PartSummary[]): Promise<TaskRun<'summarize'>> {
    const { ctx } = this;
    // The final step is a combining prompt with the document's own output budget.
    const maxTokens = resolveMaxTokens(ctx.params.maxTokens, DEFAULT_SUMMARY_TOKENS, ctx.host.textModel.contextSize);
    const part = combining(done, { round: state.round, level: state.level + 1, index: 0, maxTokens });
    const data: JobData = { ...this.job.data, part, flow: undefined };
    const { output, tokensIn, tokensOut, inferMs } = await ctx.run(data, { text: part.text, pageStarts: [0] });
    const sources = output.sources;
    return {
      task: 'summarize',
      output: {
        summary: output.summary,
        truncated: output.truncated,
        coveredChars: coveredChars(sources),
        sources,
        parts: state.chunks,
        levels: state.level + 1,
      },
      tokensIn,
      tokensOut,
      inferMs,
    };
  }
}

/**
 * A combining part of the tree, once its children are done: it reads their summaries and becomes an
 * ordinary combining part. A part that lost children fails for good, which makes the document start again.
 */
export async function gathered(
  job: Job<JobData>,
  part: SummaryPart,
): Promise<{ part: SummaryPart; children: PartSummary[] }> {
  let children: PartSummary[];
  try {
    children = await childSummaries(job, part.round, part.gathers ?? 0);
  } catch (err) {
    if ((err as Error).message.startsWith(LOST)) throw new PermanentError('internal', (err as Error).message);
    throw err;
  }
  return { part: combining(children, part), children };
}

const LOST = 'summary flow lost parts';
const FLOW_FAILURE = /^part \S+ of the summary flow failed/;

/** `job`'s children of `round` in document order; one that failed all its attempts fails the caller. */
async function childSummaries(job: Job<JobData>, round: string, expected: number): Promise<PartSummary[]> {
  const failures = Object.entries(await job.getIgnoredChildrenFailures()).filter(([key]) => key.includes(`.${round}.`));
  if (failures.length > 0) {
    const [key, reason] = failures[0]!;
    // A combining child hands on, as it is, the failure of a part beneath it.
    if (reason.startsWith(LOST)) throw new PermanentError('internal', reason);
    if (FLOW_FAILURE.test(reason)) throw new PermanentError('inference-failed', reason);
    const index = key.slice(key.lastIndexOf('.') + 1);
    throw new PermanentError(
      'inference-failed',
      `part ${index} of the summary flow failed after its attempts: ${reason}`,
    );
  }
  const values = Object.values(await job.getChildrenValues<PartSummary | { cancelled: true }>());
  const done = values
    .filter((v): v is PartSummary => 'round' in v && v.round === round)
    .sort((a, b) => a.index - b.index);
  if (done.length !== expected)
    throw new Error(`${LOST}: ${done.length} of ${expected} in round ${round} have results`);
  return done;
}

/** `items` in consecutive groups of at most `size`, as even as can be. */
function evenGroups<T>(items: T[], size: number): T[][] {
  const count = Math.ceil(items.length / size);
  return Array.from({ length: count }, (_, g) =>
    items.slice(Math.floor((g * items.length) / count), Math.floor(((g + 1) * items.length) / count)),
  );
}

/** A part that combines consecutive part summaries: their text, and every source they drew on. */
function combining(
  group: PartSummary[],
  at: Pick<SummaryPart, 'round' | 'level' | 'index' | 'maxTokens'>,
): SummaryPart {
  const { round, level, index, maxTokens } = at;
  return {
    round,
    level,
    index,
    maxTokens,
    text: combinedText(group),
    sources: group.flatMap((p) => p.sources),
    truncated: group.some((p) => p.truncated),
  };
}

function newRound(): string {
  return randomBytes(4).toString('hex');
}

function sum(parts: PartSummary[], key: 'tokensIn' | 'tokensOut'): number {
  return parts.reduce((n, p) => n + p[key], 0);
}

/** Characters inside any source; overlapping chunks count once. */
function coveredChars(sources: SummarizeOutput['sources']): number {
  let covered = 0;
  let reach = 0;
  for (const { start, end } of [...sources].sort((a, b) => a.start - b.start)) {
    covered += Math.max(0, end - Math.max(start, reach));
    reach = Math.max(reach, end);
  }
  return covered;
}
