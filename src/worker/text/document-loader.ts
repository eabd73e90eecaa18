import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PermanentError, TransientError } from '../../shared/errors.js';
import type { DocumentRef } from '../../shared/job-types.js';
import type { DocumentText } from './document-text.js';
import { PdfTextExtractor } from './pdf-text.js';

export interface DocumentLimits {
  maxBytes: number;
  maxPages: number;
  parseTimeoutMs: number;
  parseMemoryMb: number;
}

export interface LoadedDocument {
  doc: DocumentText;
  pages: number;
  bytes: number;
  fetchMs: number;
  parseMs: number;
}

/** A server that stops sending must not hold a job slot forever; the job's attempts retry it. */
const FETCH_TIMEOUT_MS = 60_000;
const TEXT_EXTENSIONS = new Set(['.txt', '.md', '.markdown']);

/** Used when the caller does not own an extractor (tests, one-off tools). */
const sharedExtractor = new PdfTextExtractor();

/**
 * Reads a document and turns it into text: PDFs (found by their header, whatever the name) in a separate
 * thread, text files as one page. Failures are PermanentError or TransientError with a category.
 */
export async function loadDocument(
  ref: DocumentRef,
  limits: DocumentLimits,
  signal?: AbortSignal,
  extractor: PdfTextExtractor = sharedExtractor,
): Promise<LoadedDocument> {
  const fetchStart = performance.now();
  const bytes = await readBytes(ref.uri, limits.maxBytes, signal);
  const fetchMs = Math.round(performance.now() - fetchStart);

  const parseStart = performance.now();
  // Read the size first: extract() transfers the bytes away.
  const size = bytes.byteLength;
  const { doc, pages } = isPdf(bytes)
    ? await extractor.extract(bytes, limits, signal)
    : { doc: asText(bytes, ref), pages: 1 };
  return { doc, pages, bytes: size, fetchMs, parseMs: Math.round(performance.now() - parseStart) };
}

async function readBytes(uri: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
  if (/^https?:\/\//i.test(uri)) return fetchBytes(uri, maxBytes, signal);
  if (!path.isAbsolute(uri)) throw new PermanentError('not-found', `not an absolute path or an http(s) URL: ${uri}`);
  return readFileBytes(uri, maxBytes);
}

/**
 * Open, stat, one read: each step is a trip through libuv's thread pool and back, and on a busy worker every
 * trip waits its turn, so the fewer the better. Closing is not waited for. What is read is the file as it was
 * at stat, so a file growing meanwhile cannot pass the size limit.
 */
async function readFileBytes(file: string, maxBytes: number): Promise<Uint8Array> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, 'r');
    const { size } = await handle.stat();
    if (size > maxBytes) throw tooLarge(size, maxBytes);
    // Not from Buffer's shared pool: a PDF's bytes are handed to the parsing thread whole, without a copy.
    const buffer = Buffer.allocUnsafeSlow(size);
    const { bytesRead } = await handle.read(buffer, 0, size, 0);
    return bytesRead === size ? buffer : buffer.subarray(0, bytesRead);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
      throw new PermanentError('not-found', `no such file: ${file}`);
    }
    if (err instanceof PermanentError) throw err;
    // EACCES, EIO, a stale network mount: the volume may be back on the next attempt.
    throw new TransientError('fetch-failed', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  } finally {
    handle?.close().catch(() => undefined);
  }
}

async function fetchBytes(url: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
  const timeout = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    const res = await fetch(url, { signal: combined });
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      const message = `HTTP ${res.status} for ${url}`;
      throw res.status === 404 || res.status === 410
        ? new PermanentError('not-found', message)
        : new TransientError('fetch-failed', message);
    }
    const declared = Number(res.headers.get('content-length'));
    if (declared > maxBytes) {
      await res.body.cancel();
      throw tooLarge(declared, maxBytes);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of res.body) {
      total += chunk.byteLength;
      // The declared length can lie or be missing; the cap holds on what actually arrives.
      if (total > maxBytes) throw tooLarge(total, maxBytes, 'at least ');
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, total);
  } catch (err) {
    if (err instanceof PermanentError || err instanceof TransientError) throw err;
    if (signal?.aborted) throw signal.reason;
    const why = timeout.aborted ? `no complete response within ${FETCH_TIMEOUT_MS} ms` : describe(err);
    throw new TransientError('fetch-failed', `cannot fetch ${url}: ${why}`, { cause: err });
  }
}

/** fetch() reports network failures as "fetch failed" with the useful part in `cause`. */
function describe(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  return e.cause ? `${e.message} (${e.cause.code ?? e.cause.message})` : e.message;
}

function tooLarge(bytes: number, maxBytes: number, qualifier = ''): PermanentError {
  return new PermanentError('too-large', `document is ${qualifier}${bytes} bytes, more than the limit of ${maxBytes}`);
}

/** PDF readers accept the header anywhere in the first KiB, so junk before it does not make a file less of a PDF. */
function isPdf(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 1024)).includes('%PDF-');
}

function asText(bytes: Uint8Array, ref: DocumentRef): DocumentText {
  const ext = extensionOf(ref);
  // A ".pdf" without a PDF header is usually an error page saved under the document's name, not the document.
  if (ext === '.pdf') {
    throw new PermanentError('unsupported-type', `${ref.name} is named .pdf but is not a PDF (no %PDF- header)`);
  }
  const text = TEXT_EXTENSIONS.has(ext) ? new TextDecoder().decode(bytes) : strictUtf8(bytes);
  if (text === undefined) throw new PermanentError('unsupported-type', `${ref.name} is not a PDF or text file`);
  if (text.trim() === '') throw new PermanentError('no-text', `${ref.name} is empty`);
  return { text, pageStarts: [0] };
}

/** The bytes as text if they are valid UTF-8 without NULs (which text never has and binary nearly always does). */
function strictUtf8(bytes: Uint8Array): string | undefined {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return text.includes('\0') ? undefined : text;
  } catch {
    return undefined;
  }
}

function extensionOf(ref: DocumentRef): string {
  const name = /^https?:\/\//i.test(ref.name) ? new URL(ref.name).pathname : ref.name;
  return path.extname(name).toLowerCase();
}
