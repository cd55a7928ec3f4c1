// Logit lens: hooks x positions, each cell the lens's top-1 token, coloured by KL to the
// final prediction or by the top-1 probability; a cell's top-k in #lens-detail.

import { needPrompt, type AppContext, type View } from '../app';
import { BLUE, HEAT, css, sample, textOn } from '../colors';
import { byId, clear, el, fillSelect } from '../dom';
import { fmtLoss, fmtNum, fmtProb, visibleToken } from '../format';
import { buildLensGrid, cellUnit, type LensCell, type LensGrid, type LensMode } from '../models/lens';
import { emptyNote, field, numberInput, numberValue, tokenText, topTable } from './common';

export function createLensView(ctx: AppContext): View {
  const root = byId('view-lens');
  const run = el('button', { id: 'lens-run', type: 'button', class: 'primary' }, 'Run lens');
  const topk = numberInput('lens-topk', 5, { min: 1, max: 100 });
  const mode = el('select', { id: 'lens-color' });
  fillSelect(mode, [
    ['kl', 'colour: KL to final'],
    ['p', 'colour: top-1 probability'],
  ]);
  const legend = el('div', { id: 'lens-legend', class: 'legend-row' });
  const grid = el('div', { id: 'lens-grid', class: 'lens-grid scroll-x' });
  const detail = el('aside', { id: 'lens-detail', class: 'side', attrs: { 'aria-live': 'polite' } });
  grid.appendChild(emptyNote('Run the lens on the prompt: each row decodes one residual-stream hook with the final norm and unembedding.'));
  detail.appendChild(emptyNote('Click a cell to see its top-k.'));
  root.append(
    el('div', { class: 'toolbar' }, run, field('top-k', topk, 'field small'), mode),
    legend,
    el('div', { class: 'split' }, grid, detail),
  );

  let model: LensGrid | null = null;
  let selected: { row: number; pos: number } | null = null;

  const showDetail = (cell: LensCell) => {
    if (!model) return;
    clear(detail);
    const row = model.rows[cell.row];
    detail.append(
      el('h3', {}, row.label),
      el('div', { class: 'dim mono' }, row.hook),
      el('p', {}, 'position ', String(cell.pos), ' ', tokenText(model.columns[cell.pos])),
      el('p', {}, `KL to final ${fmtNum(cell.kl)} nats · entropy ${fmtLoss(cell.entropy)}`),
      topTable(cell.top.map((t) => ({ id: t.token, text: t.text, p: t.p }))),
    );
  };

  const render = () => {
    if (!model) return;
    const m = mode.value as LensMode;
    const palette = m === 'p' ? BLUE : HEAT;
    clear(legend);
    legend.append(el('span', { class: 'dim' }, m === 'p' ? 'top-1 probability: ' : 'KL to final (log scale): '));
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      const rgb = sample(t, palette);
      const label = m === 'p' ? fmtProb(t) : fmtNum(Math.expm1(t * Math.log1p(model.maxKl)), 2);
      const sw = el('span', { class: 'swatch' }, label);
      sw.style.background = css(rgb);
      sw.style.color = textOn(rgb);
      legend.append(sw);
    }
    clear(grid);
    const tbl = el('table', { class: 'lens' });
    const head = el('tr', {}, el('th', { class: 'corner' }, 'hook \\ position'));
    model.columns.forEach((c, i) => head.appendChild(el('th', { attrs: { scope: 'col' }, title: `position ${i}: ${JSON.stringify(c)}` }, el('span', { class: 'dim' }, `${i} `), visibleToken(c))));
    tbl.appendChild(el('thead', {}, head));
    const body = el('tbody');
    for (const row of model.rows) {
      const tr = el('tr', { class: row.final ? 'final' : '' }, el('th', { attrs: { scope: 'row' }, title: row.hook }, row.label));
      for (const cell of row.cells) {
        const rgb = sample(cellUnit(cell, m, model.maxKl), palette);
        const td = el(
          'td',
          {
            class: 'lens-cell',
            data: { row: cell.row, pos: cell.pos },
            attrs: { tabindex: 0, role: 'button', 'aria-label': `${row.label} position ${cell.pos}: ${JSON.stringify(cell.top1)} p ${fmtProb(cell.p)}` },
            title: `${row.hook} @ ${cell.pos}\ntop-1 ${JSON.stringify(cell.top1)} p=${fmtProb(cell.p)}\nKL to final ${fmtNum(cell.kl)}`,
          },
          visibleToken(cell.top1),
        );
        td.style.background = css(rgb);
        td.style.color = textOn(rgb);
        if (selected && selected.row === cell.row && selected.pos === cell.pos) td.classList.add('selected');
        const pick = () => {
          selected = { row: cell.row, pos: cell.pos };
          grid.querySelectorAll('.lens-cell.selected').forEach((x) => x.classList.remove('selected'));
          td.classList.add('selected');
          showDetail(cell);
        };
        td.addEventListener('click', pick);
        td.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            pick();
          }
        });
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    tbl.appendChild(body);
    grid.appendChild(tbl);
  };

  const doRun = async () => {
    const p = needPrompt(ctx);
    if (p === null) return;
    const r = await ctx.guard('lens', () => ctx.api.lens(p, numberValue(topk, 5)), run);
    if (!r) return;
    model = buildLensGrid(r);
    selected = null;
    clear(detail);
    detail.appendChild(emptyNote('Click a cell to see its top-k.'));
    render();
  };
  run.addEventListener('click', () => void doRun());
  mode.addEventListener('change', render);
  return { id: 'lens', title: 'Lens', root, run: () => void doRun() };
}
