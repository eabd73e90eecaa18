import { describe, expect, it } from 'vitest';
import { repeatedSentenceAt, withoutRepeats } from '../../src/worker/model/repeated-sentence.js';

describe('repeated sentences', () => {
  it('cuts a looping text at its first repeated sentence, ignoring case, punctuation and spacing', () => {
    const text =
      'The Agreement is between Acme GmbH and Northwind Ltd. It is governed by English law. The agreement is  between ACME GmbH and Northwind Ltd! It is';
    expect(repeatedSentenceAt(text)).toBe(text.indexOf('The agreement is  between'));
    expect(withoutRepeats(text)).toBe(
      'The Agreement is between Acme GmbH and Northwind Ltd. It is governed by English law.',
    );
  });

  it('keeps short repeats and texts without a repeat as they are', () => {
    const text = 'Yes. Term: 24 months.\nYes. Fee: EUR 18,500 per month.';
    expect(repeatedSentenceAt(text)).toBeUndefined();
    expect(withoutRepeats(text)).toBe(text);
  });
});

describe('numbered loops', () => {
  it('treats sentences that differ only in list markers or numbers as repeats, and short ones from the third time', () => {
    const text = '(a) The Parties agree to the following:\n(i) The Parties agree to the following:\n';
    expect(withoutRepeats(text)).toBe('(a) The Parties agree to the following:');
    expect(withoutRepeats('Exhibits.\nD-1\nD-2\nD-3\nD-4\n')).toBe('Exhibits.\nD-1\nD-2');
  });
});
