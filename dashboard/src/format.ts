/** Numbers as the dashboard prints them (as the CLI does: grouped thousands, fixed decimals). */
const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export const n0 = (x: number | null | undefined): string => (x == null ? '–' : int.format(x));
export const n3 = (x: number | null | undefined): string => (x == null ? '–' : x.toFixed(3));
export const ratio = (x: number | null | undefined): string =>
  x == null || !Number.isFinite(x) ? '–' : `${x.toFixed(x >= 10 ? 1 : 2)}×`;
export const ms = (x: number | null | undefined): string =>
  x == null ? '–' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${int.format(x)} ms`;
export const usd = (x: number | null | undefined): string => (x == null ? '–' : `$${x.toFixed(4)}`);
export const when = (iso: string | undefined): string =>
  iso ? new Date(iso).toISOString().replace('T', ' ').slice(0, 19) : '–';

/** A small element builder: tag, attributes, children (strings become text). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c != null) el.append(c);
  return el;
}

/** A two-column table of label → value rows; `data-measure` names each row for tests and CSS. */
export function facts(rows: [string, string, string][]): HTMLTableElement {
  return h(
    'table',
    { class: 'facts' },
    ...rows.map(([id, label, value]) =>
      h('tr', { 'data-measure': id }, h('th', {}, label), h('td', {}, value)),
    ),
  );
}
