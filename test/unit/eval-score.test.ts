import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIELDS, overlaps, parseLabels, score, type LabelledDoc } from '../../src/eval/score.js';
import { CONTRACTS } from '../helpers/paths.js';

const LABELS = path.join(CONTRACTS, 'labels.json');

/** A labelled document with the given spans; other fields unlabelled. */
function doc(file: string, spans: Partial<LabelledDoc['spans']>): LabelledDoc {
  return { file, spans: { ...Object.fromEntries(FIELDS.map((f) => [f, []])), ...spans } as LabelledDoc['spans'] };
}

describe('eval scoring', () => {
  it.skipIf(!existsSync(LABELS))(
    'gives 100% precision and recall when the labels themselves are the predictions',
    () => {
      const labels = parseLabels(JSON.parse(readFileSync(LABELS, 'utf8')));
      expect(labels.length).toBeGreaterThan(0);
      // Labels carry lists for every field, so single-valued fields get lists too: the scorer takes both.
      const result = score(
        labels,
        labels.map((l) => ({ file: l.file, fields: l.spans })),
      );
      for (const field of FIELDS) {
        const s = result.fields[field];
        if (s.support === 0) continue;
        expect({ field, precision: s.precision, recall: s.recall, f1: s.f1 }).toEqual({
          field,
          precision: 1,
          recall: 1,
          f1: 1,
        });
      }
      expect(result.overall).toMatchObject({ precision: 1, recall: 1, f1: 1, fp: 0, fn: 0 });
      expect(result.overall.support).toBeGreaterThan(50);
    },
  );

  it('maps CUAD keys to schema fields and treats a missing key as no span', () => {
    const [d] = parseLabels([{ file: 'a.pdf', 'Governing Law': ['laws of Ohio'], Parties: [] }]);
    expect(d!.spans.governing_law).toEqual(['laws of Ohio']);
    expect(d!.spans.renewal_term).toEqual([]);
    expect(() => parseLabels([{ file: 'a.pdf', Parties: 'x' }])).toThrow(/Parties/);
  });

  it('counts a partial overlap, a wrong value as FP and a missed span as FN', () => {
    const labels = [
      doc('a.pdf', {
        governing_law: [
          'This Agreement shall be governed by the laws of the State of Ohio, without reference to conflicts of law.',
        ],
        parties: ['HOF Village, LLC', 'Constellation NewEnergy, Inc.'],
      }),
    ];
    const result = score(labels, [
      {
        file: 'a.pdf',
        fields: { governing_law: 'the laws of the State of Ohio', parties: ['HOF Village', 'Acme Corp'] },
      },
    ]);
    expect(result.fields.governing_law).toMatchObject({ tp: 1, fp: 0, fn: 0, precision: 1, recall: 1 });
    expect(result.fields.parties).toMatchObject({
      predicted: 2,
      tp: 1,
      fp: 1,
      support: 2,
      fn: 1,
      precision: 0.5,
      recall: 0.5,
    });
    expect(result.overall).toMatchObject({ predicted: 3, tp: 2, fp: 1, support: 3, fn: 1 });
  });

  it('counts a labelled document without a prediction as all FN, and ignores predictions for unlabelled files', () => {
    const result = score(
      [doc('a.pdf', { agreement_date: ['January 18, 2020'] })],
      [{ file: 'b.pdf', fields: { agreement_date: 'x' } }],
    );
    expect(result.fields.agreement_date).toMatchObject({
      predicted: 0,
      support: 1,
      fn: 1,
      precision: null,
      recall: 0,
      f1: 0,
    });
  });

  it('sees through case, whitespace, line-break hyphens and quote styles', () => {
    expect(
      overlaps('GOVERNED BY THE LAWS OF\n  the   State of New York', 'governed by the laws of the State of New York'),
    ).toBe(true);
    expect(
      overlaps('automatic re-\nnewal for successive one-year terms', 'automatic renewal for successive one-year terms'),
    ).toBe(true);
    expect(overlaps('the “Effective Date”', 'the "Effective Date"')).toBe(true);
    expect(overlaps('ﬁrst anniversary', 'first anniversary')).toBe(true);
  });

  it('tolerates a value cut off mid-word and PDF artefacts, but not a wrong number or shared filler', () => {
    expect(
      overlaps(
        'shall be governed by the laws of the State of Ohio, wi',
        'shall be governed by the laws of the State of Ohio, without reference',
      ),
    ).toBe(true);
    expect(overlaps('19th day of December, 2018', '19t h day of December, 2018')).toBe(true);
    expect(overlaps('January 18, 2022', 'January 18, 2020')).toBe(false);
    expect(overlaps('thirty (30) days prior written notice', 'sixty (60) days prior written notice')).toBe(false);
    expect(overlaps('of the', 'the laws of the State of Ohio')).toBe(false);
    expect(overlaps('State of Delaware', 'the laws of the State of Ohio')).toBe(false);
    expect(overlaps('', 'anything')).toBe(false);
  });

  it('scores nothing for an empty prediction on a field with no labels', () => {
    const result = score(
      [doc('a.pdf', {})],
      [{ file: 'a.pdf', fields: { renewal_term: null, parties: [], governing_law: '  ' } }],
    );
    for (const field of FIELDS) {
      expect(result.fields[field]).toMatchObject({
        predicted: 0,
        tp: 0,
        fp: 0,
        support: 0,
        fn: 0,
        precision: null,
        recall: null,
        f1: null,
      });
    }
    expect(result.overall).toMatchObject({ predicted: 0, support: 0, precision: null, recall: null });
  });

  it('counts a value for a field with no labels as FP', () => {
    const result = score([doc('a.pdf', {})], [{ file: 'a.pdf', fields: { renewal_term: 'one year' } }]);
    expect(result.fields.renewal_term).toMatchObject({ fp: 1, precision: 0, recall: null, f1: null });
  });

  it('measures the share of values found verbatim (normalised) in the document text', () => {
    const labels = [doc('a.pdf', { document_name: ['SERVICES AGREEMENT'], parties: ['Acme, Inc.'] })];
    const texts = new Map([['a.pdf', 'MASTER SERVICES\nAGREEMENT between Acme,  Inc. and Widget-\nCo LLC']]);
    const result = score(
      labels,
      [
        {
          file: 'a.pdf',
          fields: { document_name: 'Services Agreement', parties: ['WidgetCo LLC', 'Acme Incorporated'] },
        },
      ],
      texts,
    );
    expect(result.fields.document_name).toMatchObject({ checked: 1, grounded: 1, groundedShare: 1 });
    expect(result.fields.parties).toMatchObject({ checked: 2, grounded: 1, groundedShare: 0.5 });
    expect(result.overall.groundedShare).toBeCloseTo(2 / 3);
    // A partial word is not grounded: matching is on word boundaries.
    expect(
      score(labels, [{ file: 'a.pdf', fields: { document_name: 'Services Agree' } }], texts).fields.document_name
        .grounded,
    ).toBe(0);
    expect(score(labels, [{ file: 'a.pdf', fields: { document_name: 'x' } }]).overall.groundedShare).toBeNull();
  });
});
