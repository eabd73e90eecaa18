import path from 'node:path';
import { DOCUMENT_EXTENSIONS, type DocumentAccess, isDocumentName, isUnder } from '../shared/access/document-access.js';
import { PermanentError } from '../shared/errors.js';
import type { DocumentRef } from '../shared/job-types.js';
import type { WalkItem } from './document-walker.js';

/** The walker's checks for references it did not make: the hash is the job id, the size has the same limit. */
export async function* checkedRefs(
  refs: Iterable<DocumentRef> | AsyncIterable<DocumentRef>,
  maxBytes: number,
  access: DocumentAccess,
  roots: string[] | undefined,
): AsyncGenerator<WalkItem> {
  for await (const ref of refs) {
    const refusal = refusalOf(ref, maxBytes, access, roots);
    yield refusal === undefined ? { ref } : { refused: ref.name, reason: refusal };
  }
}

function refusalOf(
  ref: DocumentRef,
  maxBytes: number,
  access: DocumentAccess,
  roots: string[] | undefined,
): string | undefined {
  if (!/^[0-9a-f]{64}$/.test(ref.sha256)) return 'sha256 must be 64 lower-case hex digits';
  if (ref.bytes > maxBytes)
    return `too large: ${ref.bytes} bytes exceeds the ${maxBytes}-byte limit (--max-document-mb)`;
  if (/^https?:\/\//i.test(ref.uri)) {
    try {
      access.checkUrl(ref.uri);
      return undefined;
    } catch (err) {
      if (err instanceof PermanentError) return err.message;
      throw err;
    }
  }
  if (!path.isAbsolute(ref.uri)) return 'uri must be an absolute path or an http(s) URL';
  if (!isDocumentName(ref.uri)) return `unsupported type (expected ${DOCUMENT_EXTENSIONS.join(', ')})`;
  if (roots && !isUnder(path.resolve(ref.uri), roots)) return `outside the batch's roots (${roots.join(', ')})`;
  return undefined;
}
