import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { DocumentAccess } from '../../shared/access/document-access.js';
import { fetchDocument, tooLarge } from '../../shared/access/guarded-fetch.js';
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

export interface LoadOptions {
  signal?: AbortSignal;
  /** Used when the caller does not own an extractor (tests, one-off tools). @defaultValue a shared extractor */
  extractor?: PdfTextExtractor;
  /**
   * Where the document may be read or fetched from; a worker always passes its own.
   * @defaultValue `DocumentAccess.unrestricted` (local tools reading their own files)
   */
  access?: DocumentAccess;
  /** The directories the document's batch was submitted from, when it recorded them. */
  batchRoots?: Promise<readonly string[] | undefined>;
}

export interface LoadedDocument {
  doc: DocumentText;
  pages: number;
  bytes: number;
  fetchMs: number;
  parseMs: number;
}

const TEXT_EXTENSIONS = new Set(['.txt', '.md', '.markdown']);

const sharedExtractor = new PdfTextExtractor();

/**
 * Reads a document and turns it into text: PDFs (found by their header, whatever the name) in a separate
 * thread, text files as one page, from where `access` allows. Failures are PermanentError or TransientError
 * with a category.
 */
export async function loadDocument(
  ref: DocumentRef,
  limits: DocumentLimits,
  options: LoadOptions = {},
): Promise<LoadedDocument> {
  const { signal, extractor = sharedExtractor, access = DocumentAccess.unrestricted } = options;
  const fetchStart = performance.now();
  const bytes = /^https?:\/\//i.test(ref.uri)
    ? await fetchBytes(ref.uri, access, limits.maxBytes, signal)
    : await readFileBytes(await access.resolveFile(ref.uri, options.batchRoots), limits.maxBytes);
  const fetchMs = Math.round(performance.now() - fetchStart);

  const parseStart = performance.now();
  // Read the size first: extract() transfers the bytes away.
  const size = bytes.byteLength;
  const { doc, pages } = isPdf(bytes)
    ? await extractor.extract(bytes, limits, signal)
    : { doc: asText(bytes, ref), pages: 1 };
  return { doc, pages, bytes: size, fetchMs, parseMs: Math.round(performance.now() - parseStart) };
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

async function fetchBytes(url: string, access: DocumentAccess, maxBytes: number, signal?: AbortSignal) {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of fetchDocument(url, access, { maxBytes, signal })) {
    chunks.push(chunk);
    total += chunk.byteLength;
  }
  return Buffer.concat(chunks, total);
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
