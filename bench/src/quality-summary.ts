import type { LabelledDoc } from '../../dist/eval/score.js';
import type { PartSummary } from '../../dist/shared/tasks/summarize.js';
import type { ModelHost } from '../../dist/worker/model/model-host.js';
import { combinedText, planCombine, planSummary, summarize } from '../../dist/worker/tasks/summarize/summarize.js';
import type { DocumentText } from '../../dist/worker/text/document-text.js';
import { checkSummary } from './quality-measures.js';
import type { DocRun } from './quality-report.js';

/** A summary as a worker makes it: one prompt when the document fits, else map-reduce over its chunks, in process. */
export async function timedSummary(run: DocRun, host: ModelHost, doc: DocumentText, label: LabelledDoc) {
  const started = performance.now();
  const add = (r: { tokensIn: number; tokensOut: number }) => {
    run.tokensIn += r.tokensIn;
    run.tokensOut += r.tokensOut;
  };
  try {
    const plan = planSummary(host.textModel, doc, {});
    let text: string;
    let parts = 1;
    if (!plan) {
      const r = await host.withSequence(undefined, (env) => summarize(env, doc, {}));
      add(r);
      text = r.output.summary;
    } else {
      parts = plan.chunks.length;
      let done: PartSummary[] = [];
      for (const c of plan.chunks) {
        const sources = [{ chunk: c.index, start: c.start, end: c.end, pageStart: c.pageStart, pageEnd: c.pageEnd }];
        const part = {
          round: 'q',
          level: 0,
          index: c.index,
          text: c.text,
          maxTokens: plan.partTokens,
          sources,
          truncated: false,
        };
        const r = await host.withSequence(undefined, (env) =>
          summarize(env, { text: c.text, pageStarts: [0] }, {}, part),
        );
        add(r);
        done.push({ ...part, summary: r.output.summary, tokensIn: r.tokensIn, tokensOut: r.tokensOut });
      }
      for (let level = 1; ; level++) {
        const next = planCombine(host.textModel, done, {});
        const groups = next.final ? [done] : next.groups;
        const maxTokens = next.final ? 256 : next.partTokens;
        const combined: PartSummary[] = [];
        for (const [index, group] of groups.entries()) {
          const part = {
            round: 'q',
            level,
            index,
            text: combinedText(group),
            maxTokens,
            sources: group.flatMap((p) => p.sources),
            truncated: false,
          };
          const r = await host.withSequence(undefined, (env) =>
            summarize(env, { text: part.text, pageStarts: [0] }, {}, part),
          );
          add(r);
          combined.push({ ...part, summary: r.output.summary, tokensIn: r.tokensIn, tokensOut: r.tokensOut });
        }
        done = combined;
        if (next.final || groups.length >= done.length + 1) break;
      }
      text = done.map((p) => p.summary).join('\n');
    }
    return { text, parts, check: checkSummary(text, doc.text, label), seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    const check = checkSummary('', doc.text, label);
    return { text: '', parts: 0, check, seconds: (performance.now() - started) / 1000, error: (err as Error).message };
  }
}
