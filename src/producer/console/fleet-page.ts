import type { FastifyInstance } from 'fastify';
import { liveWorkers } from '../../shared/worker-beats.js';
import { age } from '../batch-listing.js';
import type { Producer } from '../producer.js';
import { html, tableHead, type Column } from './html.js';
import { layout } from './layout.js';

const WORKER_COLUMNS: Column[] = [
  'host',
  'model',
  'device',
  'tag',
  'role',
  { numeric: 'sequences busy' },
  { numeric: 'tokens/s' },
  { numeric: 'jobs done' },
  { numeric: 'up' },
  { numeric: 'last seen' },
  'version',
];

/** `/fleet`: the workers whose heartbeat is live, with their model and load. */
export function fleetRoutes(app: FastifyInstance, p: Producer): void {
  app.get('/fleet', async (_req, reply) => {
    const workers = await liveWorkers(p.redis, p.store.keys);
    const now = Date.now();
    const rows = workers
      .sort((a, b) => a.id.localeCompare(b.id))
      .map(
        (w) =>
          html`<tr>
            <td>
              ${w.hostname}
              <div class="muted">pid ${w.pid}</div>
            </td>
            <td>${w.model}</td>
            <td>${w.device}</td>
            <td>${w.tag}</td>
            <td>${w.role}</td>
            <td class="n">${w.busy} / ${w.sequences}</td>
            <td class="n">${w.tokensPerSecond.toFixed(1)}</td>
            <td class="n">${w.jobsDone}</td>
            <td class="n">${age(now - w.startedAt)}</td>
            <td class="n">${age(now - w.beatAt)} ago</td>
            <td>${w.version}</td>
          </tr>`,
      );
    const body =
      workers.length === 0
        ? html`<p class="muted">No worker has sent a heartbeat lately: start one with <code>docfleet worker</code>.</p>`
        : html`<table>
            ${tableHead(WORKER_COLUMNS)}
            <tbody>
              ${rows}
            </tbody>
          </table>`;
    return reply
      .type('text/html')
      .send(layout({ title: `Fleet (${workers.length} workers)`, section: '/fleet', refreshSeconds: 5 }, body));
  });
}
