import { createServer, type Server } from 'node:http';
import { readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledSibling } from '../../src/shared/compiled-path.js';
import { MiB } from '../../src/shared/config.js';
import { PermanentError, TransientError, categoryOf, type FailureCategory } from '../../src/shared/errors.js';
import type { DocumentRef } from '../../src/shared/job-types.js';
import { loadDocument, type DocumentLimits } from '../../src/worker/text/document-loader.js';
import { pageAt, type DocumentText } from '../../src/worker/text/document-text.js';
import { PdfTextExtractor } from '../../src/worker/text/pdf-text.js';
import { ROOT } from '../helpers/paths.js';

const SAMPLES = path.join(ROOT, 'samples');
const FIXTURES = path.join(ROOT, 'test/fixtures');
const LIMITS: DocumentLimits = { maxBytes: 50 * MiB, maxPages: 2000, parseTimeoutMs: 20_000, parseMemoryMb: 256 };

function ref(file: string): DocumentRef {
  return {
    uri: file,
    name: path.basename(file),
    sha256: '',
    bytes: statSync(file, { throwIfNoEntry: false })?.size ?? 0,
  };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected the document to be refused'),
    (err: unknown) => err,
  );
}

async function categoryFor(uri: string, limits: Partial<DocumentLimits> = {}): Promise<FailureCategory> {
  return categoryOf(await failure(loadDocument(ref(uri), { ...LIMITS, ...limits })));
}

function pageTexts(doc: DocumentText): string[] {
  return doc.pageStarts.map((start, i) => doc.text.slice(start, doc.pageStarts[i + 1]).trim());
}

describe('loadDocument: samples', () => {
  const pdfs = [
    ['master-services-agreement.pdf', 'MASTER SERVICES AGREEMENT', 'State of New York'],
    ['software-license-agreement.pdf', 'SOFTWARE LICENSE AGREEMENT', 'laws of England and Wales'],
    ['distribution-agreement.pdf', 'EXCLUSIVE DISTRIBUTION AGREEMENT', 'laws of the State of Delaware'],
  ] as const;

  it.each(pdfs)('%s gives its text page by page', async (file, title, law) => {
    const uri = path.join(SAMPLES, file);
    const loaded = await loadDocument(ref(uri), LIMITS);
    const { doc } = loaded;
    expect(loaded.pages).toBe(3);
    expect(loaded.bytes).toBe(statSync(uri).size);
    expect(doc.pageStarts).toHaveLength(3);
    expect(doc.pageStarts[0]).toBe(0);
    expect(doc.text.startsWith(title)).toBe(true);
    expect(doc.text.replace(/\s+/g, ' ')).toContain(law);
    // Each page carries its own footer, so each footer must fall inside its page's range.
    for (const n of [1, 2, 3]) expect(pageAt(doc, doc.text.indexOf(`Page ${n} of 3`))).toBe(n);
    expect(pageTexts(doc).every((t) => t.endsWith(`of 3`))).toBe(true);
  });

  it.each([
    ['mutual-nda.txt', 'MUTUAL NON-DISCLOSURE AGREEMENT'],
    ['consulting-agreement.md', '# Consulting Agreement'],
  ])('%s is one page of text', async (file, title) => {
    const uri = path.join(SAMPLES, file);
    const loaded = await loadDocument(ref(uri), LIMITS);
    expect(loaded.pages).toBe(1);
    expect(loaded.doc.pageStarts).toEqual([0]);
    expect(loaded.doc.text).toBe(readFileSync(uri, 'utf8'));
    expect(loaded.doc.text.startsWith(title)).toBe(true);
  });
});

describe('loadDocument: fixtures', () => {
  it('records where each page starts, blank pages included', async () => {
    const { doc, pages } = await loadDocument(ref(path.join(FIXTURES, 'pages.pdf')), LIMITS);
    expect(pages).toBe(3);
    expect(pageTexts(doc)).toEqual(['Alpha page one.', '', 'Gamma page three.']);
  });

  it('reads text without a known extension when it is valid UTF-8', async () => {
    const loaded = await loadDocument({ ...ref(path.join(SAMPLES, 'mutual-nda.txt')), name: 'NDA' }, LIMITS);
    expect(loaded.doc.text).toContain('Redfern Biologics');
  });

  it.each([
    ['encrypted.pdf', 'encrypted'],
    ['image-only.pdf', 'no-text'],
    ['truncated.pdf', 'malformed'],
    ['not-a-pdf.pdf', 'unsupported-type'],
    ['scan.png', 'unsupported-type'],
    ['no-such-file.pdf', 'not-found'],
  ])('%s is refused as %s', async (file, category) => {
    const err = await failure(loadDocument(ref(path.join(FIXTURES, file)), LIMITS));
    expect(err).toBeInstanceOf(PermanentError);
    expect(categoryOf(err)).toBe(category);
  });

  it('refuses a path that is not absolute', async () => {
    expect(await categoryFor('samples/mutual-nda.txt')).toBe('not-found');
  });

  it('enforces the size and page limits before parsing', async () => {
    expect(await categoryFor(path.join(SAMPLES, 'mutual-nda.txt'), { maxBytes: 1000 })).toBe('too-large');
    expect(await categoryFor(path.join(SAMPLES, 'distribution-agreement.pdf'), { maxPages: 2 })).toBe('too-many-pages');
  });
});

describe('PDF text thread', () => {
  // One page that expands to a million separate text lines: slow to extract and big on the heap.
  const bomb = path.join(FIXTURES, 'text-bomb.pdf');
  const sample = path.join(SAMPLES, 'master-services-agreement.pdf');

  it('stops an extraction that runs too long, then carries on with a fresh thread', async () => {
    expect(await categoryFor(bomb, { parseTimeoutMs: 300, parseMemoryMb: 1024 })).toBe('parse-timeout');
    expect((await loadDocument(ref(sample), LIMITS)).pages).toBe(3);
  });

  it('stops an extraction that outgrows its heap, then carries on with a fresh thread', async () => {
    expect(await categoryFor(bomb, { parseTimeoutMs: 60_000, parseMemoryMb: 64 })).toBe('parse-memory');
    expect((await loadDocument(ref(sample), LIMITS)).pages).toBe(3);
  });

  it('gives up at once when the job is aborted', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('job cancelled')), 200);
    const started = performance.now();
    const err = await failure(
      loadDocument(ref(bomb), { ...LIMITS, parseTimeoutMs: 60_000 }, { signal: controller.signal }),
    );
    expect((err as Error).message).toBe('job cancelled');
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('serves documents one at a time from its own extractor, and restarts after close()', async () => {
    const extractor = new PdfTextExtractor();
    const files = ['pages.pdf', 'image-only.pdf', 'pages.pdf'].map((f) => ref(path.join(FIXTURES, f)));
    const outcomes = await Promise.allSettled(files.map((f) => loadDocument(f, LIMITS, { extractor })));
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.pages : categoryOf(o.reason)))).toEqual([
      3,
      'no-text',
      3,
    ]);
    await extractor.close();
    expect((await loadDocument(files[0]!, LIMITS, { extractor })).pages).toBe(3);
    await extractor.close();
  });

  it('does not blame the document when close() interrupts it', async () => {
    const extractor = new PdfTextExtractor();
    const loading = failure(loadDocument(ref(bomb), { ...LIMITS, parseTimeoutMs: 60_000 }, { extractor }));
    setTimeout(() => void extractor.close(), 500);
    const err = await loading;
    expect(err).not.toBeInstanceOf(PermanentError);
    expect((err as Error).message).toMatch(/closed/);
  });
});

describe('loadDocument: http(s)', () => {
  const pdf = readFileSync(path.join(SAMPLES, 'software-license-agreement.pdf'));
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/contract.pdf') return res.end(pdf);
      if (req.url === '/gone') return res.writeHead(410).end();
      if (req.url === '/busy') return res.writeHead(503).end();
      if (req.url === '/declared-huge') return res.writeHead(200, { 'content-length': String(10 * MiB) }).end();
      if (req.url === '/endless') {
        // No length announced: only counting what arrives can stop it.
        res.writeHead(200, { 'content-type': 'application/pdf' });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const timer = setInterval(() => res.write(chunk), 1);
        res.on('close', () => clearInterval(timer));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const load = (url: string, limits: Partial<DocumentLimits> = {}) =>
    loadDocument({ uri: url, name: url, sha256: '', bytes: 0 }, { ...LIMITS, ...limits });

  it('fetches and extracts a PDF', async () => {
    const loaded = await load(`${base}/contract.pdf`);
    expect(loaded.bytes).toBe(pdf.length);
    expect(loaded.doc.text).toContain('Quillon Systems Ltd');
  });

  it.each([
    ['/missing', 'not-found', PermanentError],
    ['/gone', 'not-found', PermanentError],
    ['/busy', 'fetch-failed', TransientError],
    ['/declared-huge', 'too-large', PermanentError],
    ['/endless', 'too-large', PermanentError],
  ])('%s fails as %s', async (url, category, kind) => {
    const err = await failure(load(`${base}${url}`, { maxBytes: 1 * MiB }));
    expect(err).toBeInstanceOf(kind);
    expect(categoryOf(err)).toBe(category);
  });

  it('treats an unreachable server as transient', async () => {
    const err = await failure(load('http://127.0.0.1:9/contract.pdf'));
    expect(err).toBeInstanceOf(TransientError);
    expect(categoryOf(err)).toBe('fetch-failed');
  });
});

describe('compiledSibling', () => {
  it('points at dist/ from a TypeScript source and stays put when compiled', () => {
    expect(compiledSibling('file:///app/src/worker/a.ts', './b.js').href).toBe('file:///app/dist/worker/b.js');
    expect(compiledSibling('file:///app/dist/worker/a.js', './b.js').href).toBe('file:///app/dist/worker/b.js');
  });
});
