// Pieces several views share.

import { el } from '../dom';
import { fmtProb, visibleToken } from '../format';
import type { TopToken } from '../types';

/** A token's text as a chip: whitespace made visible, the raw text in the title. */
export function tokenText(text: string, cls = 'tt'): HTMLElement {
  return el('span', { class: cls, title: JSON.stringify(text) }, visibleToken(text));
}

/** A table of top-k tokens: rank, token, id, probability (with a bar). */
export function topTable(top: { id?: number; token?: number; text: string; p: number }[], highlight?: number): HTMLTableElement {
  const t = el('table', { class: 'data topk' });
  t.appendChild(el('thead', {}, el('tr', {}, el('th', {}, '#'), el('th', {}, 'token'), el('th', {}, 'id'), el('th', {}, 'p'))));
  const body = el('tbody');
  top.forEach((x, i) => {
    const id = x.id ?? x.token ?? -1;
    const bar = el('span', { class: 'pbar' });
    bar.style.width = `${Math.max(0, Math.min(1, x.p)) * 100}%`;
    const tr = el(
      'tr',
      { class: id === highlight ? 'hl' : '' },
      el('td', { class: 'num' }, String(i + 1)),
      el('td', {}, tokenText(x.text)),
      el('td', { class: 'num dim' }, String(id)),
      el('td', { class: 'num pcell' }, el('span', { class: 'pbar-track' }, bar), fmtProb(x.p)),
    );
    body.appendChild(tr);
  });
  t.appendChild(body);
  return t;
}

export function emptyNote(text: string): HTMLElement {
  return el('p', { class: 'empty' }, text);
}

export type { TopToken };

/** A labelled input. */
export function field(label: string, input: HTMLElement, cls = 'field'): HTMLElement {
  return el('label', { class: cls }, el('span', { class: 'field-label' }, label), input);
}

export function numberInput(id: string, value: number, attrs: Record<string, string | number> = {}): HTMLInputElement {
  return el('input', { id, type: 'number', attrs: { value, ...attrs } });
}

export function numberValue(input: HTMLInputElement, fallback: number): number {
  const v = Number(input.value);
  return input.value.trim() !== '' && Number.isFinite(v) ? v : fallback;
}
