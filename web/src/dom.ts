// Tiny DOM helpers. Text is only ever set with textContent / text nodes, never as HTML.

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  id?: string;
  class?: string;
  text?: string;
  title?: string;
  type?: string;
  attrs?: Record<string, string | number | boolean | null | undefined>;
  data?: Record<string, string | number>;
  on?: { [K in keyof HTMLElementEventMap]?: (e: HTMLElementEventMap[K]) => void };
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (props.id) e.id = props.id;
  if (props.class) e.className = props.class;
  if (props.title) e.title = props.title;
  if (props.type) e.setAttribute('type', props.type);
  if (props.text !== undefined) e.textContent = props.text;
  for (const [k, v] of Object.entries(props.attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const [k, v] of Object.entries(props.data ?? {})) e.dataset[k] = String(v);
  for (const [k, f] of Object.entries(props.on ?? {})) e.addEventListener(k, f as EventListener);
  append(e, children);
  return e;
}

export const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  ...children: (SVGElement | string | null | undefined)[]
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return e;
}

/** An SVG <title> (a native tooltip) with plain text. */
export function svgTitle(text: string): SVGTitleElement {
  const t = document.createElementNS(SVG_NS, 'title');
  t.textContent = text;
  return t;
}

export function clear(node: Element): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`missing element #${id}`);
  return e as T;
}

/** A <table> with a header row and body rows of cells (strings or nodes). */
export function table(headers: string[], rows: Child[][], cls = 'data'): HTMLTableElement {
  const t = el('table', { class: cls });
  const thead = el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { attrs: { scope: 'col' } }, h))));
  const tbody = el('tbody');
  for (const r of rows) tbody.appendChild(el('tr', {}, ...r.map((c) => el('td', {}, c))));
  t.append(thead, tbody);
  return t;
}

/** A <select> of options [value, label]. */
export function fillSelect(sel: HTMLSelectElement, options: [string, string][], value?: string): void {
  clear(sel);
  for (const [v, l] of options) sel.appendChild(el('option', { attrs: { value: v } }, l));
  if (value !== undefined) sel.value = value;
}
