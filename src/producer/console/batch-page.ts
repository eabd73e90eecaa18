import type { FastifyInstance } from 'fastify';
import type { BatchMeta } from '../../shared/batch-store.js';
import { batchStatus, cancelBatch, retryBatch } from '../batch-control.js';
import { age } from '../batch-listing.js';
import type { Producer } from '../producer.js';
import { batchLines, failedLines, type BatchLine } from './batch-lines.js';
import { batchState, pace } from './batches-page.js';
import { html, query, type Html, tableHead, type Column } from './html.js';
import { layout, pager, progressBar } from './layout.js';
import { pageNumber, position } from './paging.js';

const LINE_COLUMNS: Column[] = [
  'document',
  'task',
  'status',
  { numeric: 'duration' },
  { numeric: 'tokens in/out' },
  'model',
  'error',
  '',
];

/** Documents per page of a batch (each with one line per task). */
const DOCUMENTS_PER_PAGE = 50;

type BatchRequest = { Params: { id: string } };
interface BatchQuery {
  page?: string;
  /** Present: failed documents only, from the `from`th document. */
  failed?: string;
  from?: string;
  cancelled?: string;
  running?: string;
  retried?: string;
}

/** A page of every document, numbered. */
async function allPage(p: Producer, meta: BatchMeta, self: string, q: BatchQuery) {
  const read = (page: number) => batchLines(p, meta, (page - 1) * DOCUMENTS_PER_PAGE, DOCUMENTS_PER_PAGE);
  let page = pageNumber(q.page);
  let shown = await read(page);
  const pages = Math.max(1, Math.ceil(shown.documents / DOCUMENTS_PER_PAGE));
  // A page past the end (an old link to a batch that has lost documents) shows the last one.
  if (page > pages) shown = await read((page = pages));
  return { lines: shown.lines, nav: pager(page, pages, (n) => `${self}${query({ page: n })}`) };
}

/** The failed documents only, a page at a time: found by walking the batch, so pages are not numbered. */
async function failedPage(p: Producer, meta: BatchMeta, self: string, q: BatchQuery) {
  const from = position(q.from);
  const { lines, next } = await failedLines(p, meta, from, DOCUMENTS_PER_PAGE);
  const nav = html`<nav class="pager">
    ${from > 0 ? html`<a href="${self}?failed">← first failures</a>` : ''}
    ${next === undefined ? '' : html`<a href="${self}${query({ failed: '', from: next })}" rel="next">more failures →</a>`}
  </nav>`;
  return { lines, nav };
}

/** `/batches/:id`: the batch's counts, a page of its documents, and its Cancel and Retry-failed buttons. */
export function batchRoutes(app: FastifyInstance, p: Producer): void {
  app.get<BatchRequest & { Querystring: BatchQuery }>('/batches/:id', async (req, reply) => {
    const status = await batchStatus(p, req.params.id);
    const meta = (await p.store.batch(status.batch))!;
    const self = `/batches/${encodeURIComponent(status.batch)}`;
    const { lines, nav } =
      req.query.failed === undefined
        ? await allPage(p, meta, self, req.query)
        : await failedPage(p, meta, self, req.query);
    const now = Date.now();
    const { perSecond, etaMs } = pace(status, now);
    const body = html`${notice(req.query)} ${progressBar(status)}
      <p>
        <strong>${batchState(status)}</strong> · ${status.completed} completed · ${status.failed} failed ·
        ${status.cancelled} cancelled · ${status.pending} pending of ${status.total} ·
        ${status.pending > 0 ? `${perSecond.toFixed(2)} docs/s · ETA ${etaMs === undefined ? '–' : age(etaMs)} · ` : ''}
        started ${age(now - Date.parse(status.createdAt))} ago · tasks ${status.tasks.join(', ')}
      </p>
      <p>
        ${status.pending > 0 && !meta.cancelled ? button(`${self}/cancel`, 'Cancel batch') : ''}
        ${status.failed > 0 ? button(`${self}/retry`, 'Retry failed') : ''}
        ${
          req.query.failed === undefined
            ? html`<a href="${self}?failed">failed documents only</a>`
            : html`<a href="${self}">all documents</a>`
        }
      </p>
      <table>
        ${tableHead(LINE_COLUMNS)}
        <tbody>
          ${lines.map((l) => lineRow(self, l))}
        </tbody>
      </table>
      ${lines.length === 0 ? html`<p class="muted">No documents to show.</p>` : ''} ${nav}`;
    const title = meta.name ? `Batch ${meta.name}` : `Batch ${status.batch}`;
    return reply
      .type('text/html')
      .send(layout({ title, section: '/', refreshSeconds: status.done ? undefined : 5 }, body));
  });

  app.post<BatchRequest>('/batches/:id/cancel', async (req, reply) => {
    const { cancelled, running } = await cancelBatch(p, req.params.id);
    return reply.redirect(`/batches/${encodeURIComponent(req.params.id)}${query({ cancelled, running })}`, 303);
  });

  app.post<BatchRequest>('/batches/:id/retry', async (req, reply) => {
    const { retried } = await retryBatch(p, req.params.id);
    return reply.redirect(`/batches/${encodeURIComponent(req.params.id)}${query({ retried })}`, 303);
  });
}

function button(action: string, label: string): Html {
  return html`<form class="inline" method="post" action="${action}"><button type="submit">${label}</button></form>`;
}

/** What the last button did (its counts come back in the redirect's query). */
function notice(q: { cancelled?: string; running?: string; retried?: string }): Html {
  const n = (v: string | undefined) => Number(v) || 0;
  if (q.retried !== undefined)
    return html`<div class="notice">${n(q.retried)} failed documents sent back to their queues.</div>`;
  if (q.cancelled !== undefined)
    return html`<div class="notice">
      Cancelled ${n(q.cancelled)} queued documents; ${n(q.running)} running ones finish.
    </div>`;
  return html``;
}

function lineRow(self: string, l: BatchLine): Html {
  const r = l.result?.result;
  const error = l.result?.error;
  const view = `${self}/jobs/${encodeURIComponent(l.jobId)}`;
  return html`<tr>
    <td>${l.doc.name}</td>
    <td>${l.task}</td>
    <td class="status-${l.status}">${l.status}</td>
    <td class="n">${r ? `${(r.timings.totalMs / 1000).toFixed(1)} s` : ''}</td>
    <td class="n">${r ? `${r.tokensIn} / ${r.tokensOut}` : ''}</td>
    <td>${r?.model ?? ''}</td>
    <td class="reason">${error ? html`<strong>${error.category}</strong>: ${error.message}` : ''}</td>
    <td>${l.result ? html`<a href="${view}">${error ? 'reason' : 'result'}</a>` : ''}</td>
  </tr>`;
}
