// The shared #tooltip: shown next to a target on hover and on keyboard focus.

import { byId, clear, type Child } from '../dom';

export function showTooltip(target: Element, content: Child[]): void {
  const tip = byId('tooltip');
  clear(tip);
  for (const c of content) if (c !== null && c !== undefined && c !== false) tip.append(typeof c === 'number' ? String(c) : c);
  tip.hidden = false;
  const r = target.getBoundingClientRect();
  const tw = tip.offsetWidth;
  const th = tip.offsetHeight;
  let left = r.left + window.scrollX;
  let top = r.bottom + window.scrollY + 6;
  if (left + tw > window.scrollX + document.documentElement.clientWidth - 8)
    left = window.scrollX + document.documentElement.clientWidth - tw - 8;
  if (r.bottom + th + 6 > window.innerHeight && r.top - th - 6 > 0) top = r.top + window.scrollY - th - 6;
  tip.style.left = `${Math.max(4, left)}px`;
  tip.style.top = `${top}px`;
}

export function hideTooltip(): void {
  byId('tooltip').hidden = true;
}

/** Shows the tooltip for `target` on mouseenter and focus, hides it on leave, blur and Escape. */
export function attachTooltip(target: HTMLElement, content: () => Child[]): void {
  const show = () => showTooltip(target, content());
  target.addEventListener('mouseenter', show);
  target.addEventListener('focus', show);
  target.addEventListener('mouseleave', hideTooltip);
  target.addEventListener('blur', hideTooltip);
  target.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') hideTooltip();
  });
}
