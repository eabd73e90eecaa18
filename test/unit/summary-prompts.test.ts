import { describe, expect, it } from 'vitest';
import { summaryWrap } from '../../src/worker/tasks/summarize/summarize.js';

describe('summary prompts', () => {
  it('ask a contract for its parties, law and term unless the focus is a general document', () => {
    const contract = summaryWrap('part', true, 'pages 3–4')('TEXT');
    expect(contract).toContain('(pages 3–4) of a contract');
    expect(contract).toContain('the governing law');
    expect(contract).toContain('<part>\nTEXT\n</part>');
    expect(summaryWrap('part', true, 'page 1', 'contract')('T')).toBe(summaryWrap('part', true, 'page 1')('T'));

    const general = summaryWrap('part', true, 'page 1', 'document')('TEXT');
    expect(general).toContain('(page 1) of a document');
    expect(general).not.toMatch(/governing law|parties/);
    const combine = summaryWrap('combine', true, '', 'document')('NOTES');
    expect(combine).toContain('of a document from the notes below');
    expect(combine).not.toMatch(/governing law|parties/);
  });

  it('give a base model a text to continue, whatever the focus', () => {
    const base = summaryWrap('combine', false, '', 'contract')('S');
    expect(base).toBe(summaryWrap('combine', false, '', 'document')('S'));
    expect(base.endsWith('Summary of the whole document:\n')).toBe(true);
  });
});
