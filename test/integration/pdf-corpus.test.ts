import { readdirSync } from 'node:fs';
import path from 'node:path';
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB } from '../../src/shared/config.js';
import { PermanentError, type FailureCategory } from '../../src/shared/errors.js';
import { loadDocument, type DocumentLimits, type LoadedDocument } from '../../src/worker/text/document-loader.js';
import type { DocumentText } from '../../src/worker/text/document-text.js';
import { chunkDocument } from '../../src/worker/text/token-chunker.js';
import { CONTRACTS, PDFJS, TEST_MODEL } from '../helpers/paths.js';

/** Tight enough that the hostile files (one is a decompression bomb) cost seconds, not minutes. */
const LIMITS: DocumentLimits = { maxBytes: 50 * MiB, maxPages: 2000, parseTimeoutMs: 10_000, parseMemoryMb: 128 };

/** What a PDF may legitimately end as; anything else (internal, transient, an untyped error) is a bug. */
const DOCUMENT_OUTCOMES: ReadonlySet<FailureCategory> = new Set([
  'encrypted',
  'no-text',
  'too-large',
  'too-many-pages',
  'parse-timeout',
  'parse-memory',
  'malformed',
  'unsupported-type',
]);

function pdfsIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.toLowerCase().endsWith('.pdf'))
    .sort();
}

async function load(dir: string, file: string): Promise<LoadedDocument> {
  return loadDocument({ uri: path.join(dir, file), name: file, sha256: '', bytes: 0 }, LIMITS);
}

function wellFormed({ doc, pages }: LoadedDocument): boolean {
  const ascending = doc.pageStarts.every((start, i) => i === 0 || start >= doc.pageStarts[i - 1]!);
  return pages >= 1 && doc.pageStarts.length === pages && doc.pageStarts[0] === 0 && ascending;
}

/** Chunks measured by the real model's tokenizer, as a worker would make them. */
const CHUNK_TOKENS = 256;
const CHUNK_OVERLAP = 32;

let llama: Llama | undefined;
let model: LlamaModel | undefined;
const countTokens = (text: string) => model!.tokenize(text).length;

beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never' });
  model = await llama.loadModel({ modelPath: TEST_MODEL });
});

afterAll(async () => {
  await model?.dispose();
  await llama?.dispose();
});

/** Token chunks of `doc`, with every chunk's offsets and size checked; problems go to `problems`. */
function chunked(file: string, doc: DocumentText, problems: string[]): number {
  let chunks;
  try {
    chunks = chunkDocument(doc, { maxTokens: CHUNK_TOKENS, overlapTokens: CHUNK_OVERLAP, countTokens });
  } catch (err) {
    problems.push(`${file}: chunking failed: ${String(err)}`);
    return 0;
  }
  if (doc.text.trim() !== '' && chunks.length === 0) problems.push(`${file}: no chunks for a non-blank text`);
  for (const c of chunks) {
    if (doc.text.slice(c.start, c.end) !== c.text)
      problems.push(`${file}: chunk ${c.index} [${c.start}, ${c.end}) does not round-trip`);
    const tokens = countTokens(c.text);
    if (tokens > CHUNK_TOKENS || tokens !== c.tokens)
      problems.push(`${file}: chunk ${c.index} has ${tokens} tokens (says ${c.tokens})`);
  }
  return chunks.length;
}

describe('PDF corpus', () => {
  it('turns every pdf.js regression PDF into text or a categorised error', { timeout: 180_000 }, async () => {
    const files = pdfsIn(PDFJS);
    expect(files.length).toBeGreaterThan(400);
    const counts = new Map<string, number>();
    const unexpected: string[] = [];
    const slowest: Array<[string, number]> = [];
    const chunking = { documents: 0, chunks: 0, most: ['', 0] as [string, number], ms: 0 };
    for (const file of files) {
      const started = performance.now();
      let outcome: string;
      let loaded: LoadedDocument | undefined;
      try {
        loaded = await load(PDFJS, file);
        outcome = 'text';
        if (!wellFormed(loaded)) unexpected.push(`${file}: bad page offsets ${JSON.stringify(loaded.doc.pageStarts)}`);
      } catch (err) {
        outcome = err instanceof PermanentError && DOCUMENT_OUTCOMES.has(err.category) ? err.category : 'unexpected';
        if (outcome === 'unexpected') unexpected.push(`${file}: ${String(err)}`);
      }
      counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
      slowest.push([`${file} (${outcome})`, Math.round(performance.now() - started)]);
      if (loaded) {
        const chunkStarted = performance.now();
        const n = chunked(file, loaded.doc, unexpected);
        chunking.ms += performance.now() - chunkStarted;
        chunking.documents++;
        chunking.chunks += n;
        if (n > chunking.most[1]) chunking.most = [file, n];
      }
    }
    slowest.sort((a, b) => b[1] - a[1]);
    console.log(`pdf.js corpus, ${files.length} PDFs:`);
    console.table(Object.fromEntries([...counts].sort((a, b) => b[1] - a[1])));
    console.log('slowest (ms):');
    console.table(Object.fromEntries(slowest.slice(0, 5)));
    console.log(
      `token chunks (${CHUNK_TOKENS} tokens, ${CHUNK_OVERLAP} overlap): ${chunking.chunks} from ${chunking.documents} documents ` +
        `in ${Math.round(chunking.ms)} ms; most: ${chunking.most[0]} (${chunking.most[1]})`,
    );
    expect(unexpected).toEqual([]);
  });

  it('reads every contract', { timeout: 120_000 }, async () => {
    const files = pdfsIn(CONTRACTS);
    expect(files).toHaveLength(21);
    const chunks: Record<string, { pages: number; chars: number; chunks: number }> = {};
    const problems: string[] = [];
    let chunkMs = 0;
    for (const file of files) {
      const loaded = await load(CONTRACTS, file);
      expect(wellFormed(loaded), file).toBe(true);
      expect(loaded.doc.text.length, file).toBeGreaterThan(1000);
      const started = performance.now();
      chunks[file] = {
        pages: loaded.pages,
        chars: loaded.doc.text.length,
        chunks: chunked(file, loaded.doc, problems),
      };
      chunkMs += performance.now() - started;
    }
    console.log(
      `contracts, token chunks (${CHUNK_TOKENS} tokens, ${CHUNK_OVERLAP} overlap) in ${Math.round(chunkMs)} ms:`,
    );
    console.table(chunks);
    expect(problems).toEqual([]);
  });
});
