/** Markup that is already safe: escaped text or trusted template. Only {@link html} and {@link raw} make one. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Interpolated into {@link html}: escaped unless already Html; lists are joined; null, undefined and false vanish. */
type Part = Html | string | number | boolean | null | undefined | Part[];

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.text;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
}

/** A template of trusted markup: every interpolated value is escaped (text and attribute values alike). */
export function html(strings: TemplateStringsArray, ...parts: Part[]): Html {
  return new Html(strings.reduce((out, s, i) => out + render(parts[i - 1]) + s));
}

/** Trusted markup from a constant (the stylesheet, a script). */
export function raw(text: string): Html {
  return new Html(text);
}

/** Query strings for links: values are encoded, unset ones left out. */
export function query(params: Record<string, string | number | undefined>): string {
  const set = Object.entries(params).filter((e): e is [string, string | number] => e[1] !== undefined);
  return set.length === 0
    ? ''
    : `?${new URLSearchParams(set.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
}

/** A column of {@link tableHead}: its title, or `{ numeric: title }` for a right-aligned column of figures. */
export type Column = string | { numeric: string };

/** A table's header row. */
export function tableHead(columns: readonly Column[]): Html {
  return html`<thead>
    <tr>
      ${columns.map((c) => (typeof c === 'string' ? html`<th>${c}</th>` : html`<th class="n">${c.numeric}</th>`))}
    </tr>
  </thead>`;
}
