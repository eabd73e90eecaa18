import { html, raw, type Html } from './html.js';

const STYLE = raw(`
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }
header { background: #1d2430; color: #fff; padding: 10px 24px; display: flex; gap: 24px; align-items: baseline; }
header a { color: #c9d3e3; text-decoration: none; } header a.here { color: #fff; font-weight: 600; }
header strong { font-size: 16px; margin-right: 12px; }
main { padding: 16px 24px; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
th { background: #eef0f3; font-weight: 600; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.bar { width: 160px; height: 12px; margin: 8px 0; background: #e3e6eb; border-radius: 6px; overflow: hidden; display: flex; }
.bar span { display: block; height: 100%; } .bar .completed { background: #2e9e5b; }
.bar .failed { background: #d64545; } .bar .cancelled { background: #9aa3b0; }
.status-completed { color: #2e7d4f; } .status-failed { color: #c03030; font-weight: 600; }
.status-cancelled, .status-missing { color: #6b7482; } .status-active { color: #1f6fd1; }
.reason { color: #7a2a2a; max-width: 36em; overflow-wrap: anywhere; }
.pager { margin: 12px 0; display: flex; gap: 16px; } .muted { color: #6b7482; }
form.inline { display: inline; } button { font: inherit; padding: 4px 12px; cursor: pointer; }
.notice { background: #fff7d6; border: 1px solid #e8d58a; padding: 8px 12px; margin-bottom: 12px; }
.ungrounded { background: #fde8e8; } .grounded { color: #2e7d4f; } blockquote { margin: 0; color: #3a4454; }
pre { white-space: pre-wrap; background: #fff; padding: 12px; border: 1px solid #e3e6eb; }
`);

const PAGES = [
  ['/', 'Batches'],
  ['/fleet', 'Fleet'],
  ['/queues', 'Queues'],
] as const;

export interface PageOptions {
  title: string;
  /** The navigation entry to highlight. */
  section: (typeof PAGES)[number][0];
  /** Reload the page this often, for pages that show work in progress. */
  refreshSeconds?: number;
}

export function layout({ title, section, refreshSeconds }: PageOptions, body: Html): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>${title} · docfleet</title>
        ${refreshSeconds ? html`<meta http-equiv="refresh" content="${refreshSeconds}" />` : ''}
        <style>
          ${STYLE}
        </style>
      </head>
      <body>
        <header>
          <strong>docfleet</strong>${PAGES.map(
            ([href, name]) => html`<a href="${href}" class="${href === section ? 'here' : ''}">${name}</a>`,
          )}
        </header>
        <main>
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html> `.text;
}

/** Completed, failed and cancelled shares of a batch as one bar. */
export function progressBar(c: { total: number; completed: number; failed: number; cancelled: number }): Html {
  const share = (n: number) => (c.total > 0 ? `${((100 * n) / c.total).toFixed(1)}%` : '0%');
  const done = c.completed + c.failed + c.cancelled;
  return html`<div
    class="bar"
    role="progressbar"
    aria-valuenow="${c.total > 0 ? Math.round((100 * done) / c.total) : 0}"
    aria-valuemin="0"
    aria-valuemax="100"
  >
    ${(['completed', 'failed', 'cancelled'] as const).map(
      (k) => html`<span class="${k}" style="width: ${share(c[k])}"></span>`,
    )}
  </div>`;
}

/** Previous and next links of a paged list. */
export function pager(page: number, pages: number, href: (page: number) => string): Html {
  if (pages <= 1) return html``;
  return html`<nav class="pager">
    ${page > 1 ? html`<a href="${href(page - 1)}" rel="prev">← previous</a>` : ''}
    <span class="muted">page ${page} of ${pages}</span>
    ${page < pages ? html`<a href="${href(page + 1)}" rel="next">next →</a>` : ''}
  </nav>`;
}
