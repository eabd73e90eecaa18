import type { FastifyInstance } from 'fastify';
import { age, batchListing, type BatchListing } from '../batch-listing.js';
import type { Producer } from '../producer.js';
import { html, query, tableHead, type Column } from './html.js';
import { layout, pager, progressBar } from './layout.js';
import { pageNumber } from './paging.js';

const BATCH_COLUMNS: Column[] = [
  'batch',
  'tasks',
  'progress',
  { numeric: 'done' },
  { numeric: 'completed' },
  { numeric: 'failed' },
  { numeric: 'docs/s' },
  { numeric: 'ETA' },
  { numeric: 'age' },
  'state',
];

/** Batches per page of `/`. */
const BATCHES_PER_PAGE = 50;

/** Documents per second since the batch began, and how long the rest should take at that pace. */
export function pace(b: BatchListing, now: number): { perSecond: number; etaMs?: number } {
  const finished = b.completed + b.failed + b.cancelled;
  const seconds = Math.max(1, (now - Date.parse(b.createdAt)) / 1000);
  const perSecond = finished / seconds;
  return { perSecond, ...(b.pending > 0 && perSecond > 0 ? { etaMs: (b.pending / perSecond) * 1000 } : {}) };
}

/** What a batch is doing, in one word. */
export function batchState(b: BatchListing): string {
  if (b.submitting) return 'submitting';
  if (b.pending > 0) return 'running';
  return b.failed > 0 ? 'finished with failures' : 'finished';
}

/** `/`: every batch of the index, newest first, a page at a time. */
export function batchesRoutes(app: FastifyInstance, p: Producer): void {
  app.get<{ Querystring: { page?: string } }>('/', async (req, reply) => {
    const total = await p.store.batches.indexSize();
    const pages = Math.max(1, Math.ceil(total / BATCHES_PER_PAGE));
    const page = Math.min(pageNumber(req.query.page), pages);
    const batches = (await p.store.batches.recent(BATCHES_PER_PAGE, (page - 1) * BATCHES_PER_PAGE)).map(batchListing);
    const now = Date.now();
    const rows = batches.map((b) => {
      const { perSecond, etaMs } = pace(b, now);
      const running = b.pending > 0;
      return html`<tr>
        <td>
          <a href="/batches/${b.batch}">${b.name ?? b.batch}</a
          >${b.name ? html`<div class="muted">${b.batch}</div>` : ''}
        </td>
        <td>${b.tasks.join(', ')}</td>
        <td>${progressBar(b)}</td>
        <td class="n">${b.completed + b.failed + b.cancelled} / ${b.total}</td>
        <td class="n">${b.completed}</td>
        <td class="n ${b.failed > 0 ? 'status-failed' : ''}">${b.failed}</td>
        <td class="n">${running ? perSecond.toFixed(2) : '–'}</td>
        <td class="n">${etaMs === undefined ? '–' : age(etaMs)}</td>
        <td class="n">${age(now - Date.parse(b.createdAt))}</td>
        <td>${batchState(b)}</td>
      </tr>`;
    });
    const body = html`${
      total === 0
        ? html`<p class="muted">No batches yet: <code>docfleet submit</code> creates one.</p>`
        : html`<table>
            ${tableHead(BATCH_COLUMNS)}
            <tbody>
              ${rows}
            </tbody>
          </table>`
    }
    ${pager(page, pages, (n) => `/${query({ page: n })}`)}`;
    const busy = batches.some((b) => b.pending > 0 || b.submitting);
    return reply
      .type('text/html')
      .send(layout({ title: `Batches (${total})`, section: '/', refreshSeconds: busy ? 5 : undefined }, body));
  });
}
