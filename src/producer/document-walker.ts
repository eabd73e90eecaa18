import { createHash } from 'node:crypto';
import { close, createReadStream, fstat, open, read } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { DOCUMENT_EXTENSIONS, isDocumentName, isUnder, type DocumentAccess } from '../shared/access/document-access.js';
import { fetchDocument } from '../shared/access/guarded-fetch.js';
import type { DocumentRef } from '../shared/job-types.js';

export type WalkItem = { ref: DocumentRef } | { refused: string; reason: string };

/**
 * Yields every document named by the inputs — files, directories (recursively) and http(s) URLs —
 * one at a time, with its content hash, so memory stays flat however many files there are.
 * Oversized or unsupported inputs are yielded as refusals rather than thrown, so one bad file
 * does not stop a night's batch. URLs are fetched only as `access` allows; a symbolic link in a directory
 * is taken only if it leads to a file inside the directory given (what workers will check too).
 */
export async function* walkDocuments(
  inputs: string[],
  maxBytes: number,
  access: DocumentAccess,
): AsyncGenerator<WalkItem> {
  for (const input of inputs) {
    if (/^https?:\/\//i.test(input)) {
      yield await hashUrl(input, maxBytes, access);
      continue;
    }
    const abs = path.resolve(input);
    const info = await stat(abs).catch(() => undefined);
    if (!info) yield { refused: input, reason: 'no such file or directory' };
    else if (info.isDirectory()) yield* walkDirectory(abs, input, maxBytes, await realpath(abs));
    else if (!isDocumentName(abs))
      yield { refused: input, reason: `unsupported type (expected ${DOCUMENT_EXTENSIONS.join(', ')})` };
    else yield await hashFile(abs, input, maxBytes);
  }
}

/**
 * The absolute paths of the local inputs, recorded in the batch: workers read its files only under them, links
 * resolved on the worker's side (which may reach the volume through other links than the producer).
 */
export function rootsOf(inputs: string[]): string[] {
  return [...new Set(inputs.filter((input) => !/^https?:\/\//i.test(input)).map((input) => path.resolve(input)))];
}

async function* walkDirectory(abs: string, shown: string, maxBytes: number, root: string): AsyncGenerator<WalkItem> {
  // Sorted so that a folder always yields its documents in the same order.
  const entries = (await readdir(abs, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  // Files are hashed a few at a time (reading one small file after another leaves the disk and the CPU
  // idle in turn) but yielded in order.
  const ahead: Promise<WalkItem>[] = [];
  for (const e of entries) {
    const childAbs = path.join(abs, e.name);
    const childShown = path.join(shown, e.name);
    if (e.isDirectory()) {
      while (ahead.length > 0) yield await ahead.shift()!;
      yield* walkDirectory(childAbs, childShown, maxBytes, root);
    } else if ((e.isFile() || e.isSymbolicLink()) && isDocumentName(e.name)) {
      // Links to files are read through; links to directories are not followed (they can loop).
      ahead.push(
        e.isSymbolicLink()
          ? hashLinked(childAbs, childShown, maxBytes, root)
          : hashFile(childAbs, childShown, maxBytes),
      );
      if (ahead.length >= HASH_AHEAD) yield await ahead.shift()!;
    }
  }
  while (ahead.length > 0) yield await ahead.shift()!;
}

/** Files read and hashed at once while walking a directory. */
const HASH_AHEAD = 16;
/** Smaller files are read whole; larger ones streamed, so hashing ahead never holds much memory. */
const READ_WHOLE_BYTES = 4 * 1024 * 1024;

async function hashFile(abs: string, shown: string, maxBytes: number): Promise<WalkItem> {
  try {
    const { size, data } = await readSmallFile(abs, Math.min(maxBytes, READ_WHOLE_BYTES));
    if (size > maxBytes) return { refused: shown, reason: tooLarge(size, maxBytes) };
    const hash = createHash('sha256');
    if (data) hash.update(data);
    else for await (const chunk of createReadStream(abs)) hash.update(chunk as Buffer);
    return { ref: { uri: abs, name: shown, sha256: hash.digest('hex'), bytes: size } };
  } catch (err) {
    return { refused: shown, reason: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

/** A link is hashed only if it leads inside the directory submitted: workers refuse it otherwise. */
async function hashLinked(abs: string, shown: string, maxBytes: number, root: string): Promise<WalkItem> {
  const target = await realpath(abs).catch(() => undefined);
  // A broken link: the read says why.
  if (target === undefined) return hashFile(abs, shown, maxBytes);
  if (!isUnder(target, [root])) return { refused: shown, reason: `links to ${target}, outside ${root}` };
  return hashFile(abs, shown, maxBytes);
}

/**
 * The file's size and, when it is at most `limit` bytes, its content. Written with callback fs: one
 * open, fstat, read and close per file makes hashing thousands of small files several times faster
 * than fs/promises, whose readFile and FileHandle add hops and promises per call.
 */
function readSmallFile(file: string, limit: number): Promise<{ size: number; data?: Buffer }> {
  return new Promise((resolve, reject) => {
    open(file, 'r', (err, fd) => {
      if (err) {
        reject(err);
        return;
      }
      const finish = (error: Error | null, value?: { size: number; data?: Buffer }) =>
        close(fd, () => (error ? reject(error) : resolve(value!)));
      fstat(fd, (err, info) => {
        if (err) {
          finish(err);
          return;
        }
        if (info.size > limit) {
          finish(null, { size: info.size });
          return;
        }
        const data = Buffer.allocUnsafe(info.size);
        const readFrom = (offset: number): void => {
          if (offset >= info.size) {
            finish(null, { size: info.size, data });
            return;
          }
          read(fd, data, offset, info.size - offset, offset, (err, n) => {
            if (err) {
              finish(err);
              return;
            }
            // The file shrank while we read it: hash what is there.
            if (n === 0) {
              finish(null, { size: offset, data: data.subarray(0, offset) });
              return;
            }
            readFrom(offset + n);
          });
        };
        readFrom(0);
      });
    });
  });
}

async function hashUrl(url: string, maxBytes: number, access: DocumentAccess): Promise<WalkItem> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of fetchDocument(url, access, { maxBytes })) {
      bytes += chunk.byteLength;
      hash.update(chunk);
    }
  } catch (err) {
    return { refused: url, reason: (err as Error).message };
  }
  return { ref: { uri: url, name: url, sha256: hash.digest('hex'), bytes } };
}

function tooLarge(size: number, maxBytes: number): string {
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `too large: ${mib(size)} exceeds the ${mib(maxBytes)} limit (--max-document-mb / DOCFLEET_MAX_DOCUMENT_MB)`;
}
