// Hand-drawn SVG charts: a line chart with one or two y axes, and HTML bar lists.

import { el, svg, svgTitle } from './dom';
import { fmtNum } from './format';
import { linear, log10Scale, logDomain, logTicks, niceTicks, type Scale } from './scale';

export interface Series {
  name: string;
  values: (number | null)[];
  color: string;
  axis: 'left' | 'right';
  dash?: string;
  /** Draw the line across missing values (for sparse series). */
  connectGaps?: boolean;
}

export interface Axis {
  label: string;
  log?: boolean;
}

export interface Marker {
  i: number;
  label: string;
  color: string;
}

export interface LineChartOptions {
  width?: number;
  height?: number;
  series: Series[];
  left: Axis;
  right?: Axis;
  xTicks: { i: number; label: string }[];
  /** The name of point i (for hover titles). */
  pointName?: (i: number) => string;
  markers?: Marker[];
  onPoint?: (i: number) => void;
}

function axisScale(values: number[], axis: Axis, range: [number, number]): { s: Scale; ticks: number[] } {
  if (axis.log) {
    const d = logDomain(values);
    return { s: log10Scale(d, range), ticks: logTicks(d[0], d[1]) };
  }
  const fin = values.filter((v) => Number.isFinite(v));
  let lo = fin.length ? Math.min(0, ...fin) : 0;
  let hi = fin.length ? Math.max(...fin) : 1;
  if (hi === lo) hi = lo + 1;
  const ticks = niceTicks(lo, hi, 5);
  lo = Math.min(lo, ticks[0] ?? lo);
  hi = Math.max(hi, ticks[ticks.length - 1] ?? hi);
  return { s: linear([lo, hi], range), ticks };
}

export function lineChart(o: LineChartOptions): SVGSVGElement {
  const W = o.width ?? 900;
  const H = o.height ?? 300;
  const m = { l: 64, r: o.right ? 64 : 24, t: 30, b: 48 };
  const n = Math.max(...o.series.map((s) => s.values.length), 1);
  const x = linear([0, Math.max(1, n - 1)], [m.l, W - m.r]);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img' });
  root.appendChild(svgTitle(o.series.map((s) => s.name).join(', ')));

  const scales: Record<'left' | 'right', Scale | null> = { left: null, right: null };
  for (const side of ['left', 'right'] as const) {
    const axis = side === 'left' ? o.left : o.right;
    if (!axis) continue;
    const vals = o.series.filter((s) => s.axis === side).flatMap((s) => s.values.filter((v): v is number => v !== null));
    const { s, ticks } = axisScale(vals, axis, [H - m.b, m.t]);
    scales[side] = s;
    const ax = side === 'left' ? m.l : W - m.r;
    const g = svg('g', { class: `axis axis-${side}` });
    g.appendChild(svg('line', { x1: ax, x2: ax, y1: m.t, y2: H - m.b, class: 'axis-line' }));
    for (const t of ticks) {
      const y = s(t);
      if (side === 'left') g.appendChild(svg('line', { x1: m.l, x2: W - m.r, y1: y, y2: y, class: 'grid' }));
      g.appendChild(
        svg('text', { x: side === 'left' ? ax - 6 : ax + 6, y: y + 4, 'text-anchor': side === 'left' ? 'end' : 'start', class: 'tick' }, fmtNum(t, 2)),
      );
    }
    const lx = side === 'left' ? 14 : W - 10;
    g.appendChild(
      svg('text', { x: lx, y: (m.t + H - m.b) / 2, transform: `rotate(-90 ${lx} ${(m.t + H - m.b) / 2})`, 'text-anchor': 'middle', class: 'axis-label' }, axis.label),
    );
    root.appendChild(g);
  }

  const gx = svg('g', { class: 'axis axis-x' });
  gx.appendChild(svg('line', { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: 'axis-line' }));
  let lastX = -Infinity;
  for (const t of o.xTicks) {
    const xx = x(t.i);
    gx.appendChild(svg('line', { x1: xx, x2: xx, y1: m.t, y2: H - m.b + 4, class: 'grid grid-x' }));
    if (xx - lastX < 22) continue;
    lastX = xx;
    const nearEnd = xx > W - m.r - 40;
    gx.appendChild(svg('text', { x: nearEnd ? xx - 2 : xx + 2, y: H - m.b + 16, 'text-anchor': nearEnd ? 'end' : 'start', class: 'tick' }, t.label));
  }
  root.appendChild(gx);

  for (const mk of o.markers ?? []) {
    const xx = x(mk.i);
    const g = svg('g', { class: 'marker' });
    g.appendChild(svg('line', { x1: xx, x2: xx, y1: m.t, y2: H - m.b, stroke: mk.color, 'stroke-width': 2, 'stroke-dasharray': '4 3' }));
    g.appendChild(svg('text', { x: Math.min(xx + 4, W - m.r - 4), y: H - 8, fill: mk.color, class: 'marker-label', 'text-anchor': xx > W * 0.7 ? 'end' : 'start' }, mk.label));
    root.appendChild(g);
  }

  for (const s of o.series) {
    const sc = scales[s.axis];
    if (!sc) continue;
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        if (!s.connectGaps) pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'} ${x(i).toFixed(1)} ${sc(v).toFixed(1)} `;
      pen = true;
    });
    const attrs: Record<string, string | number> = { d, fill: 'none', stroke: s.color, 'stroke-width': 2, class: 'series' };
    if (s.dash) attrs['stroke-dasharray'] = s.dash;
    root.appendChild(svg('path', attrs));
    const dots = svg('g', { class: 'dots' });
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      const c = svg('circle', { cx: x(i).toFixed(1), cy: sc(v).toFixed(1), r: 3, fill: s.color, class: 'dot', 'data-i': i });
      c.appendChild(svgTitle(`${o.pointName ? o.pointName(i) : i}\n${s.name}: ${fmtNum(v)}`));
      if (o.onPoint) c.addEventListener('click', () => o.onPoint?.(i));
      dots.appendChild(c);
    });
    root.appendChild(dots);
  }

  // Legend.
  const lg = svg('g', { class: 'legend' });
  let lxp = m.l + 8;
  for (const s of o.series) {
    lg.appendChild(svg('line', { x1: lxp, x2: lxp + 18, y1: 12, y2: 12, stroke: s.color, 'stroke-width': 3, ...(s.dash ? { 'stroke-dasharray': s.dash } : {}) }));
    lg.appendChild(svg('text', { x: lxp + 22, y: 16, class: 'legend-text' }, s.name));
    lxp += 30 + s.name.length * 7;
  }
  root.appendChild(lg);
  return root;
}

export interface HBar {
  label: string;
  frac: number;
  value: string;
  title?: string;
  color?: string;
}

/** A list of horizontal bars (label, bar, value), as HTML. */
export function hbars(rows: HBar[], cls = ''): HTMLElement {
  const box = el('div', { class: `hbars ${cls}`.trim() });
  for (const r of rows) {
    const bar = el('span', { class: 'hbar-fill' });
    bar.style.width = `${Math.max(0, Math.min(1, r.frac)) * 100}%`;
    if (r.color) bar.style.background = r.color;
    box.appendChild(
      el('div', { class: 'hbar', title: r.title ?? `${r.label}: ${r.value}` }, el('span', { class: 'hbar-label' }, r.label), el('span', { class: 'hbar-track' }, bar), el('span', { class: 'hbar-value' }, r.value)),
    );
  }
  return box;
}
