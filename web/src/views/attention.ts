// Attention: per-head scores and thumbnails, the selected head's pattern as a heatmap, and
// the prompt as chips: hovering (or focusing) a query chip draws its attention to earlier keys.

import { needPrompt, type AppContext, type View } from '../app';
import { BLUE, css, sample, textOn } from '../colors';
import { byId, clear, el, fillSelect, svg, svgTitle } from '../dom';
import { fmtNum, fmtProb, visibleToken } from '../format';
import { attentionLines, headTable, patternOf, weightsOf, type Rect } from '../models/attention';
import type { AttentionReply, HeadScores } from '../types';
import { emptyNote } from './common';

function drawThumb(canvas: HTMLCanvasElement, pattern: number[][]): void {
  const n = pattern.length;
  const size = 56;
  canvas.width = size;
  canvas.height = size;
  const g = canvas.getContext('2d');
  if (!g || n === 0) return;
  const c = size / n;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, size, size);
  for (let q = 0; q < n; q++)
    for (let k = 0; k <= q && k < (pattern[q]?.length ?? 0); k++) {
      g.fillStyle = css(sample(Math.sqrt(pattern[q][k]), BLUE));
      g.fillRect(Math.floor(k * c), Math.floor(q * c), Math.ceil(c), Math.ceil(c));
    }
}

function heatmap(pattern: number[][], texts: string[], title: string): SVGSVGElement {
  const n = pattern.length;
  const cell = Math.max(6, Math.min(28, Math.floor(520 / Math.max(1, n))));
  const lab = 90;
  const W = lab + n * cell + 8;
  const H = lab + n * cell + 8;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'heatmap', role: 'img' });
  root.appendChild(svgTitle(title));
  const showLabels = cell >= 10;
  for (let q = 0; q < n; q++) {
    if (showLabels)
      root.appendChild(svg('text', { x: lab - 4, y: lab + q * cell + cell * 0.7, 'text-anchor': 'end', class: 'hm-label' }, visibleToken(texts[q]).slice(0, 12)));
    for (let k = 0; k < n; k++) {
      const w = pattern[q]?.[k] ?? 0;
      const r = svg('rect', { x: lab + k * cell, y: lab + q * cell, width: cell - 1, height: cell - 1, fill: k > q ? '#f4f4f4' : css(sample(Math.sqrt(w), BLUE)) });
      if (k <= q) r.appendChild(svgTitle(`query ${q} ${JSON.stringify(texts[q])} -> key ${k} ${JSON.stringify(texts[k])}: ${fmtProb(w)}`));
      root.appendChild(r);
      if (cell >= 24 && k <= q) root.appendChild(svg('text', { x: lab + k * cell + cell / 2, y: lab + q * cell + cell * 0.65, 'text-anchor': 'middle', class: 'hm-val', fill: textOn(sample(Math.sqrt(w), BLUE)) }, w >= 0.995 ? '1' : w.toFixed(2).replace(/^0/, '')));
    }
  }
  if (showLabels)
    for (let k = 0; k < n; k++) {
      const x = lab + k * cell + cell * 0.7;
      root.appendChild(svg('text', { x, y: lab - 4, transform: `rotate(-60 ${x} ${lab - 4})`, class: 'hm-label' }, visibleToken(texts[k]).slice(0, 12)));
    }
  root.appendChild(svg('text', { x: 4, y: 12, class: 'hm-axis' }, 'keys →'));
  root.appendChild(svg('text', { x: 4, y: 26, class: 'hm-axis' }, 'queries ↓'));
  return root;
}

export function createAttentionView(ctx: AppContext): View {
  const root = byId('view-attention');
  const run = el('button', { id: 'att-run', type: 'button', class: 'primary' }, 'Run attention');
  const layerSel = el('select', { id: 'att-layer', attrs: { 'aria-label': 'layer' } });
  const headSel = el('select', { id: 'att-head', attrs: { 'aria-label': 'head' } });
  const scoresLine = el('div', { id: 'att-selected', class: 'metric-line' });
  const textBox = el('div', { id: 'att-text', class: 'att-text' });
  const lines = svg('svg', { id: 'att-lines', class: 'att-lines', 'aria-hidden': 'true' });
  const weightsBox = el('div', { id: 'att-weights', class: 'dim', attrs: { 'aria-live': 'polite' } });
  const heat = el('div', { id: 'att-heatmap', class: 'scroll-x' });
  const heads = el('div', { id: 'att-heads', class: 'att-heads' });
  const scores = el('div', { id: 'att-scores', class: 'scroll-y' });
  textBox.appendChild(emptyNote('Run attention on the prompt.'));

  root.append(
    el('div', { class: 'toolbar' }, run, el('label', { class: 'field small' }, el('span', { class: 'field-label' }, 'layer'), layerSel), el('label', { class: 'field small' }, el('span', { class: 'field-label' }, 'head'), headSel), scoresLine),
    el('h3', {}, 'Prompt (hover or focus a token: lines to the earlier tokens it attends to)'),
    el('div', { class: 'att-wrap' }, textBox, lines),
    weightsBox,
    el('div', { class: 'split halves' }, el('div', {}, el('h3', {}, 'Selected head'), heat), el('div', {}, el('h3', {}, 'All heads'), heads)),
    el('h3', {}, 'Head scores'),
    scores,
  );

  let reply: AttentionReply | null = null;
  let layer = 0;
  let head = 0;
  let hovered: number | null = null;

  const chips = () => Array.from(textBox.querySelectorAll<HTMLElement>('.att-tok'));

  const drawLines = () => {
    clear(lines);
    const cs = chips();
    cs.forEach((c) => {
      c.classList.remove('query', 'key');
      const w = c.querySelector('.att-w');
      if (w) w.textContent = '';
    });
    if (!reply || hovered === null) {
      weightsBox.textContent = reply ? 'Hover or focus a token to see where it looks.' : '';
      return;
    }
    const pattern = patternOf(reply, layer, head);
    const wrap = textBox.getBoundingClientRect();
    lines.setAttribute('width', String(textBox.scrollWidth));
    lines.setAttribute('height', String(textBox.scrollHeight));
    const rects: Rect[] = cs.map((c) => {
      const r = c.getBoundingClientRect();
      return { x: r.left - wrap.left, y: r.top - wrap.top, w: r.width, h: r.height };
    });
    const q = hovered;
    const ws = weightsOf(pattern, q);
    cs[q]?.classList.add('query');
    ws.forEach((w, k) => {
      const c = cs[k];
      if (!c) return;
      if (k !== q) c.classList.add('key');
      const b = c.querySelector('.att-w');
      if (b) b.textContent = fmtProb(w);
    });
    for (const l of attentionLines(pattern, q, rects, { minWeight: 0.01 })) {
      const p = svg('path', { d: l.d, fill: 'none', stroke: '#1f5fa8', 'stroke-width': l.width.toFixed(2), 'stroke-opacity': l.opacity.toFixed(2), 'stroke-linecap': 'round', 'data-key': l.key });
      p.appendChild(svgTitle(`${q} -> ${l.key}: ${fmtProb(l.weight)}`));
      lines.appendChild(p);
    }
    const sorted = ws.map((w, k) => ({ w, k })).sort((a, b) => b.w - a.w).slice(0, 5);
    weightsBox.textContent = `query ${q} ${JSON.stringify(reply.token_texts[q])}: ` + sorted.map((s) => `${s.k} ${JSON.stringify(reply!.token_texts[s.k])} ${fmtProb(s.w)}`).join(' · ') + (ws[q] !== undefined ? ` (self ${fmtProb(ws[q])})` : '');
  };

  const renderSelected = () => {
    if (!reply) return;
    layerSel.value = String(layer);
    headSel.value = String(head);
    const s: HeadScores | null | undefined = headTable(reply)[layer]?.[head];
    scoresLine.textContent = s ? `L${layer} H${head}: sink ${fmtNum(s.sink)} · previous-token ${fmtNum(s.prev_token)} · induction ${fmtNum(s.induction)} · entropy ${fmtNum(s.entropy)}` : `L${layer} H${head}`;
    clear(heat);
    heat.appendChild(heatmap(patternOf(reply, layer, head), reply.token_texts, `layer ${layer} head ${head}`));
    heads.querySelectorAll('.att-thumb').forEach((b) => {
      const on = Number((b as HTMLElement).dataset.layer) === layer && Number((b as HTMLElement).dataset.head) === head;
      b.classList.toggle('selected', on);
      b.setAttribute('aria-pressed', String(on));
    });
    scores.querySelectorAll('tr[data-layer]').forEach((tr) => {
      const e = tr as HTMLElement;
      e.classList.toggle('hl', Number(e.dataset.layer) === layer && Number(e.dataset.head) === head);
    });
    drawLines();
  };

  const select = (l: number, h: number) => {
    layer = l;
    head = h;
    renderSelected();
  };

  const render = () => {
    if (!reply) return;
    const r = reply;
    const nl = r.n_layers ?? r.patterns.length;
    const nh = r.n_heads ?? r.patterns[0]?.length ?? 0;
    fillSelect(layerSel, Array.from({ length: nl }, (_, i) => [String(i), String(i)]));
    fillSelect(headSel, Array.from({ length: nh }, (_, i) => [String(i), String(i)]));
    clear(textBox);
    r.token_texts.forEach((t, i) => {
      const chip = el(
        'span',
        { class: 'att-tok', data: { pos: i }, attrs: { tabindex: 0, 'aria-label': `token ${i} ${JSON.stringify(t)}` }, title: `position ${i}` },
        el('span', { class: 'att-w', attrs: { 'aria-hidden': 'true' } }),
        el('span', { class: 'att-t' }, visibleToken(t)),
      );
      const on = () => {
        hovered = i;
        drawLines();
      };
      chip.addEventListener('mouseenter', on);
      chip.addEventListener('focus', on);
      textBox.appendChild(chip);
    });
    clear(heads);
    const table = headTable(r);
    for (let l = 0; l < nl; l++) {
      const rowEl = el('div', { class: 'att-heads-row' }, el('span', { class: 'att-heads-label' }, `L${l}`));
      for (let h = 0; h < nh; h++) {
        const c = el('canvas', { class: 'thumb' });
        drawThumb(c, patternOf(r, l, h));
        const s = table[l]?.[h];
        const b = el(
          'button',
          {
            type: 'button',
            class: 'att-thumb',
            data: { layer: l, head: h },
            title: s ? `L${l} H${h}\nsink ${fmtNum(s.sink)}\nprevious-token ${fmtNum(s.prev_token)}\ninduction ${fmtNum(s.induction)}\nentropy ${fmtNum(s.entropy)}` : `L${l} H${h}`,
            on: { click: () => select(l, h) },
          },
          c,
          el('span', { class: 'thumb-label' }, `H${h}`),
        );
        rowEl.appendChild(b);
      }
      heads.appendChild(rowEl);
    }
    clear(scores);
    const tbl = el('table', { class: 'data' });
    tbl.appendChild(el('thead', {}, el('tr', {}, ...['head', 'sink', 'previous-token', 'induction', 'entropy'].map((h) => el('th', {}, h)))));
    const body = el('tbody');
    const maxOf = (k: 'sink' | 'prev_token' | 'induction' | 'entropy') => Math.max(1e-9, ...r.heads.map((x) => x[k]));
    const cellOf = (v: number, k: 'sink' | 'prev_token' | 'induction' | 'entropy') => {
      const bar = el('span', { class: 'pbar' });
      bar.style.width = `${(v / maxOf(k)) * 100}%`;
      return el('td', { class: 'num pcell' }, el('span', { class: 'pbar-track' }, bar), fmtNum(v));
    };
    for (const s of r.heads) {
      const tr = el('tr', { data: { layer: s.layer, head: s.head } }, el('td', {}, el('button', { type: 'button', class: 'link', on: { click: () => select(s.layer, s.head) } }, `L${s.layer} H${s.head}`)));
      tr.append(cellOf(s.sink, 'sink'), cellOf(s.prev_token, 'prev_token'), cellOf(s.induction, 'induction'), cellOf(s.entropy, 'entropy'));
      body.appendChild(tr);
    }
    tbl.appendChild(body);
    scores.appendChild(tbl);
    hovered = null;
    select(Math.min(layer, nl - 1), Math.min(head, nh - 1));
  };

  const doRun = async () => {
    const p = needPrompt(ctx);
    if (p === null) return;
    const r = await ctx.guard('attention', () => ctx.api.attention(p), run);
    if (!r) return;
    reply = r;
    render();
  };

  run.addEventListener('click', () => void doRun());
  layerSel.addEventListener('change', () => select(Number(layerSel.value), head));
  headSel.addEventListener('change', () => select(layer, Number(headSel.value)));
  window.addEventListener('resize', () => drawLines());
  return { id: 'attention', title: 'Attention', root, run: () => void doRun(), show: () => drawLines() };
}
