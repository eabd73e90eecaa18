import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ExtractOutput, SummarizeOutput } from '../../shared/job-types.js';
import type { StoredResult } from '../../shared/result-store.js';
import type { Producer } from '../producer.js';
import { omitVectors } from '../vector-export.js';
import { html, type Html, tableHead, type Column } from './html.js';
import { layout } from './layout.js';

const FIELD_COLUMNS: Column[] = ['field', 'value', 'quote', { numeric: 'page' }, ''];

type JobRequest = { Params: { id: string; job: string } };

/**
 * `/batches/:id/jobs/:job`: one document's outcome rendered (the error, the summary, or each extracted value beside
 * its quote and page); `/batches/:id/results/:job`: the same as JSON, without embedding vectors. Only jobs the batch
 * covers are shown.
 */
export function resultRoutes(app: FastifyInstance, p: Producer): void {
  const read = async (req: { params: JobRequest['Params'] }, reply: FastifyReply) => {
    const { id, job } = req.params;
    const covered = await p.redis.hexists(p.store.keys.jobBatches(job), id);
    const [stored] = covered ? await p.store.get([job]) : [];
    if (!stored) void reply.code(404).type('text/plain').send(`no result for job ${job} in batch ${id}\n`);
    return stored;
  };

  app.get<JobRequest>('/batches/:id/results/:job', async (req, reply) => {
    const stored = await read(req, reply);
    if (stored) return reply.type('application/json').send(JSON.stringify(stored, omitVectors));
  });

  app.get<JobRequest>('/batches/:id/jobs/:job', async (req, reply) => {
    const stored = await read(req, reply);
    if (!stored) return;
    const json = `/batches/${encodeURIComponent(req.params.id)}/results/${encodeURIComponent(req.params.job)}`;
    const r = stored.result;
    const body = html`<p>
        <a href="/batches/${req.params.id}">← batch ${req.params.id}</a> · <a href="${json}">JSON</a>
      </p>
      <table>
        <tr>
          <th>document</th>
          <td>${stored.job.doc.name}</td>
        </tr>
        <tr>
          <th>task</th>
          <td>${stored.job.task}</td>
        </tr>
        <tr>
          <th>status</th>
          <td class="status-${stored.status}">${stored.status}</td>
        </tr>
        <tr>
          <th>finished</th>
          <td>${new Date(stored.finishedAt).toISOString()}</td>
        </tr>
        ${
          r
            ? html`<tr>
                  <th>model</th>
                  <td>${r.model}</td>
                </tr>
                <tr>
                  <th>pages, characters</th>
                  <td>${r.pages}, ${r.chars}</td>
                </tr>
                <tr>
                  <th>tokens in / out</th>
                  <td>${r.tokensIn} / ${r.tokensOut}</td>
                </tr>
                <tr>
                  <th>time</th>
                  <td>
                    ${(r.timings.totalMs / 1000).toFixed(2)} s (read ${r.timings.fetchMs} ms, parse ${r.timings.parseMs}
                    ms, model ${r.timings.inferMs} ms)
                  </td>
                </tr>`
            : ''
        }
      </table>
      ${
        stored.error
          ? html`<h2>Reason</h2>
              <p class="reason">
                <strong>${stored.error.category}</strong> after ${stored.error.attempts} attempt(s):
                ${stored.error.message}
              </p>`
          : ''
      }
      ${output(stored)}`;
    return reply.type('text/html').send(layout({ title: stored.job.doc.name, section: '/' }, body));
  });
}

function output(stored: StoredResult): Html {
  const r = stored.result;
  if (!r) return html``;
  if (r.task === 'summarize') return summary(r.output);
  if (r.task === 'extract') return fields(r.output);
  return html`<h2>Embedding</h2>
    <p>${r.output.chunks.length} chunks of ${r.output.dimensions} dimensions.</p>`;
}

function summary(o: SummarizeOutput): Html {
  const pages = o.sources.length > 0 ? `${o.sources[0]!.pageStart}–${o.sources.at(-1)!.pageEnd}` : '–';
  return html`<h2>Summary</h2>
    <pre>${o.summary}</pre>
    <p class="muted">
      pages ${pages} · ${o.coveredChars} characters
      read${o.truncated ? ' (only the start: the document did not fit)' : ''}${o.parts > 0 ? ` · ${o.parts} parts, ${o.levels} combining rounds` : ''}
    </p>`;
}

/** Each value beside the quote that supports it and its page; values no quote supports are marked. */
function fields(o: ExtractOutput): Html {
  const ungrounded = new Set(o.ungrounded);
  const rows = Object.entries(o.fields).flatMap(([field, value]) => {
    const evidence = o.evidence[field] ?? [];
    if (evidence.length === 0)
      return [
        html`<tr>
          <td>${field}</td>
          <td>${JSON.stringify(value)}</td>
          <td class="muted">no value</td>
          <td></td>
          <td></td>
        </tr>`,
      ];
    return evidence.map((e) => {
      const marked = ungrounded.has(e.pointer) || !e.grounded;
      return html`<tr class="${marked ? 'ungrounded' : ''}">
        <td>${e.pointer.slice(1)}</td>
        <td>${typeof e.value === 'string' ? e.value : JSON.stringify(e.value)}</td>
        <td><blockquote>${e.quote}</blockquote></td>
        <td class="n">${e.page ?? `${e.citedPage} (cited)`}</td>
        <td>${marked ? html`<strong>ungrounded</strong>` : html`<span class="grounded">grounded</span>`}</td>
      </tr>`;
    });
  });
  return html`<h2>Fields</h2>
    <table>
      ${tableHead(FIELD_COLUMNS)}
      <tbody>
        ${rows}
      </tbody>
    </table>
    ${o.truncated ? html`<p class="muted">The document did not fit: the model read ${o.coveredChars} characters of chosen passages.</p>` : ''}`;
}
