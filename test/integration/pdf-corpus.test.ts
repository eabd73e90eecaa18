import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MiB } from '../../src/shared/config.js';
import { PermanentError, type FailureCategory } from '../../src/shared/errors.js';
import { loadDocument, type DocumentLimits, type LoadedDocument } from '../../src/worker/document-loader.js';
import { CONTRACTS, PDFJS } from '../helpers/paths.js';

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

describe('PDF corpus', () => {
  it('turns every pdf.js regression PDF into text or a categorised error', { timeout: 180_000 }, async () => {
    const files = pdfsIn(PDFJS);
    expect(files.length).toBeGreaterThan(400);
    const counts = new Map<string, number>();
    const unexpected: string[] = [];
    const slowest: Array<[string, number]> = [];
    for (const file of files) {
      const started = performance.now();
      let outcome: string;
      try {
        const loaded = await load(PDFJS, file);
        outcome = 'text';
        if (!wellFormed(loaded)) unexpected.push(`${file}: bad page offsets ${JSON.stringify(loaded.doc.pageStarts)}`);
      } catch (err) {
        outcome = err instanceof PermanentError && DOCUMENT_OUTCOMES.has(err.category) ? err.category : 'unexpected';
        if (outcome === 'unexpected') unexpected.push(`${file}: ${String(err)}`);
      }
      counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
      slowest.push([`${file} (${outcome})`, Math.round(performance.now() - started)]);
    }
    slowest.sort((a, b) => b[1] - a[1]);
    console.log(`pdf.js corpus, ${files.length} PDFs:`);
    console.table(Object.fromEntries([...counts].sort((a, b) => b[1] - a[1])));
    console.log('slowest (ms):');
    console.table(Object.fromEntries(slowest.slice(0, 5)));
    expect(unexpected).toEqual([]);
  });

  it('reads every contract', { timeout: 120_000 }, async () => {
    const files = pdfsIn(CONTRACTS);
    expect(files).toHaveLength(21);
    for (const file of files) {
      const loaded = await load(CONTRACTS, file);
      expect(wellFormed(loaded), file).toBe(true);
      expect(loaded.doc.text.length, file).toBeGreaterThan(1000);
    }
  });
});
