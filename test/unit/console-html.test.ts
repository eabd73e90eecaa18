import { describe, expect, it } from 'vitest';
import { html, query, raw } from '../../src/producer/console/html.js';
import { isLoopback } from '../../src/producer/console/console-auth.js';

describe('console markup', () => {
  it('escapes every interpolated value, in text and attributes, and keeps trusted markup', () => {
    const name = `<script>alert("x")</script> & 'q'`;
    const out = html`<a title="${name}">${name}</a>${raw('<br>')}${[html`<i>${'<'}</i>`, 1, null, false]}`.text;
    expect(out).toBe(
      '<a title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;">' +
        '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;</a><br><i>&lt;</i>1',
    );
  });

  it('builds query strings from set values only', () => {
    expect(query({ page: 2, token: undefined, q: 'a&b' })).toBe('?page=2&q=a%26b');
    expect(query({})).toBe('');
  });

  it('tells loopback addresses from the rest', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) expect(isLoopback(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'console.example']) expect(isLoopback(host)).toBe(false);
  });
});
