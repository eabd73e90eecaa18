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
 * first run chunks the text and adds one child job per chunk to its own queue, so every free worker of the
 * right role and tag takes part; when the children are done BullMQ wakes the parent, which combines their
 * summaries — or, while they are still too long for one context, adds a round of combining children.
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

  /** The flow for a document too long for one context: adds the map round. */
  async start(loaded: LoadedDocument, plan: SummaryPlan): Promise<SummaryFlowState> {
    const round = newRound();
    const parts: SummaryPart[] = plan.chunks.map((c) => ({
      round,
      level: 0,
      index: c.index,
      text: c.text,
      maxTokens: plan.partTokens,
      sources: [{ chunk: c.index, start: c.start, end: c.end, pageStart: c.pageStart, pageEnd: c.pageEnd }],
      truncated: false,
    }));
    const state: SummaryFlowState = {
      round,
      level: 0,
      parts: parts.length,
      chunks: parts.length,
      pages: loaded.pages,
      chars: loaded.doc.text.length,
      fetchMs: loaded.fetchMs,
      parseMs: loaded.parseMs,
      startedAt: Date.now(),
      tokensIn: 0,
      tokensOut: 0,
    };
    await this.fanOut(state, parts);
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
        combining(group, { round, level: state.level + 1, index, maxTokens: next.partTokens }),
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
  private async fanOut(state: SummaryFlowState, parts: SummaryPart[]): Promise<void> {
    const job = this.job;
    const { flow: _flow, ...data } = job.data;
    const opts = job.opts;
    const children: FlowJob[] = parts.map((part) => ({
      name: `${data.task}-part`,
      queueName: job.queueName,
      prefix: job.prefix,
      data: { ...data, part } satisfies JobData,
      opts: {
        jobId: `${job.id}.${part.round}.${part.index}`,
        parent: { id: job.id!, queue: job.queueQualifiedName },
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
    }));
    await this.flows.addBulk(children);
    await job.updateData({ ...job.data, flow: state });
  }

  /** The current round's summaries in document order; a failed child fails the document. */
  private async collect(state: SummaryFlowState): Promise<PartSummary[]> {
    const job = this.job;
    const failures = Object.entries(await job.getIgnoredChildrenFailures()).filter(([key]) =>
      key.includes(`.${state.round}.`),
    );
    if (failures.length > 0) {
      const [key, reason] = failures[0]!;
      const index = key.slice(key.lastIndexOf('.') + 1);
      throw new PermanentError(
        'inference-failed',
        `part ${index} of the summary flow failed after its attempts: ${reason}`,
      );
    }
    const values = Object.values(await job.getChildrenValues<PartSummary | { cancelled: true }>());
    const done = values
      .filter((v): v is PartSummary => 'round' in v && v.round === state.round)
      .sort((a, b) => a.index - b.index);
    if (done.length !== state.parts) {
      // Children were removed by hand, or their results were lost with Redis: start the document again.
      await job.updateData({ ...job.data, flow: undefined });
      throw new TransientError(
        'internal',
        `summary flow lost parts: ${done.length} of ${state.parts} in round ${state.round} have results`,
      );
    }
    return done;
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

/** A part that combines consecutive part summaries: their text, and every source they drew on. */
function combining(
  group: PartSummary[],
  at: Pick<SummaryPart, 'round' | 'level' | 'index' | 'maxTokens'>,
): SummaryPart {
  return {
    ...at,
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
