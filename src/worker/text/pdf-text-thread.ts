/**
 * worker_threads entry: extracts the text of one PDF at a time with pdf-parse (pdf.js).
 * It runs in its own thread so that a hostile PDF can be stopped (timeout) or contained (heap limit)
 * without touching the process; see pdf-text.ts for the other side.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parentPort } from 'node:worker_threads';
import { PDFParse, VerbosityLevel } from 'pdf-parse';
import type { FailureCategory } from '../../shared/errors.js';

export interface ThreadRequest {
  /** Transferred, not copied. */
  bytes: Uint8Array;
  maxPages: number;
}

export type ThreadReply =
  | { kind: 'ready' }
  | { kind: 'text'; text: string; pageStarts: number[]; pages: number }
  | { kind: 'failed'; category: FailureCategory; message: string };

/** Between pages, so that a page's last line never runs into the next page's first. */
const PAGE_SEPARATOR = '\n\n';

// pdf-parse's own pdf.js (pdfjs-dist), which holds the CMaps (CJK text) and standard font metrics it reads from disk.
const pdfjsDir = path.dirname(createRequire(import.meta.resolve('pdf-parse')).resolve('pdfjs-dist/package.json'));

// In Node pdf.js runs its "worker" in the calling thread, importing it on first use. Import it now, so that
// warming the thread up pays for it rather than the first document, and pdf.js never has to locate a worker.
(globalThis as { pdfjsWorker?: unknown }).pdfjsWorker = await import(
  pathToFileURL(`${pdfjsDir}/legacy/build/pdf.worker.mjs`).href
);

async function extract({ bytes, maxPages }: ThreadRequest): Promise<ThreadReply> {
  const parser = new PDFParse({
    data: bytes,
    verbosity: VerbosityLevel.ERRORS,
    cMapUrl: `${pdfjsDir}/cmaps/`,
    standardFontDataUrl: `${pdfjsDir}/standard_fonts/`,
    // No network, no eval, no image decoders: the PDF is untrusted and text extraction needs none of them.
    useWorkerFetch: false,
    isEvalSupported: false,
    useWasm: false,
    isOffscreenCanvasSupported: false,
    isImageDecoderSupported: false,
  });
  try {
    // The first call loads the document and tells the page count, so a huge one is refused before the rest is read.
    const first = await parser.getText({ first: 1 });
    if (first.total > maxPages) {
      return failed('too-many-pages', `PDF has ${first.total} pages, more than the limit of ${maxPages}`);
    }
    const rest = first.total > 1 ? (await parser.getText({ first: 2, last: first.total })).pages : [];
    return join([...first.pages, ...rest].map((p) => p.text));
  } catch (err) {
    return categorise(err);
  } finally {
    await parser.destroy().catch(() => undefined);
  }
}

function join(pages: string[]): ThreadReply {
  if (pages.every((p) => p.trim() === '')) {
    return failed('no-text', `PDF has no text layer on any of its ${pages.length} pages (scanned or image-only?)`);
  }
  const pageStarts: number[] = [];
  let text = '';
  for (const page of pages) {
    if (pageStarts.length > 0) text += PAGE_SEPARATOR;
    pageStarts.push(text.length);
    text += page.trimEnd();
  }
  return { kind: 'text', text, pageStarts, pages: pages.length };
}

function categorise(err: unknown): ThreadReply {
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.name === 'PasswordException') return failed('encrypted', `PDF is password-protected: ${e.message}`);
  // Large buffers (decoded streams) live outside the heap limit; when they cannot be had, it is still memory.
  if (e instanceof RangeError && /allocation failed/i.test(e.message)) {
    return failed('parse-memory', `PDF needs more memory than available: ${e.message}`);
  }
  return failed('malformed', `malformed PDF: ${e.message || e.name}`);
}

function failed(category: FailureCategory, message: string): ThreadReply {
  return { kind: 'failed', category, message };
}

const port = parentPort;
if (!port) throw new Error('pdf-text-thread.js must run as a worker thread');
port.on('message', (req: ThreadRequest) => {
  void extract(req).then((reply) => port.postMessage(reply));
});
port.postMessage({ kind: 'ready' } satisfies ThreadReply);
