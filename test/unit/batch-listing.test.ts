import { describe, expect, it } from 'vitest';
import { batchListing, formatBatches } from '../../src/producer/batch-listing.js';
import type { BatchSummary } from '../../src/shared/batch-store.js';

const NOW = Date.parse('2026-12-03T12:00:00Z');

function summary(id: string, agoMs: number, extra: Partial<BatchSummary['meta']> = {}): BatchSummary {
  return {
    meta: {
      id,
      createdAt: NOW - agoMs,
      tasks: ['summarize', 'extract'],
      tag: 'any',
      params: {},
      inputs: { first: ['/data/a', '/data/b', '/data/c'], count: 5 },
      documents: 10,
      jobs: 20,
      duplicates: 0,
      refused: 0,
      cancelled: false,
      submitting: false,
      ...extra,
    },
    counts: { lines: 20, completed: 12, failed: 1, cancelled: 2 },
  };
}

describe('docfleet batches', () => {
  it('derives pending from the counters', () => {
    expect(batchListing(summary('b1', 0, { name: 'nightly' }))).toMatchObject({
      batch: 'b1',
      name: 'nightly',
      total: 20,
      completed: 12,
      failed: 1,
      cancelled: 2,
      pending: 5,
    });
  });

  it('prints a table with ages and inputs, newest first as given', () => {
    const text = formatBatches(
      [summary('b2', 45_000, { name: 'nightly', submitting: true }), summary('b1', 3 * 86_400_000)].map(batchListing),
      NOW,
    );
    expect(text.split('\n')).toEqual([
      'BATCH  NAME     AGE               TASKS              TOTAL  DONE  FAILED  INPUTS',
      'b2     nightly  45s (submitting)  summarize,extract  20     12    1       /data/a /data/b /data/c (+2 more)',
      'b1     -        3d                summarize,extract  20     12    1       /data/a /data/b /data/c (+2 more)',
      '',
    ]);
    expect(formatBatches([], NOW)).toBe('no batches\n');
  });
});
