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

describe('phrase loops', () => {
  it('cuts a phrase that repeats back to back inside a sentence, keeping its first occurrence', () => {
    const text =
      'The company has provided legal support to RCP, including legal services, including legal services, including legal services, including legal';
    expect(withoutRepeats(text)).toBe('The company has provided legal support to RCP, including legal services,');
  });

  it('cuts a long passage repeated once, even where line breaks split its sentences differently', () => {
    const once =
      'The document is a contract between the Fund and its members, including the Board of Trustees, which is a contract between the';
    const text = `${once}\nFund and its members. ${once} Fund and its\nmembers. ${once}`;
    expect(withoutRepeats(text)).toBe(`${once}\nFund and its members.`);
  });

  it('leaves short repeats, figures and ordinary prose alone', () => {
    const texts = [
      'The fee is EUR 100 in 2024, EUR 200 in 2025 and EUR 300 in 2026.',
      'Either party may terminate. Either party may renew on notice.',
      'It is what it is, and so on and so on.',
    ];
    for (const text of texts) expect(withoutRepeats(text)).toBe(text);
  });
});
