// Activations: per-hook statistics, a hook's histogram, massive dims, dead / always-on
// neurons, and the residual stream's norm along the layers.

import { needPrompt, sourceOf, sourceOptions, type AppContext, type View } from '../app';
import { lineChart } from '../chart';
import { byId, clear, el, fillSelect, svg, svgTitle } from '../dom';
import { fmtInt, fmtNum, shortHook } from '../format';
import { histogramBars, hookFlags, hookName, massiveList, neuronLists, normSeries } from '../models/activations';
import type { ActivationsReply, HookStats } from '../types';
import { emptyNote } from './common';

function histogramSvg(h: HookStats, logY: boolean): SVGSVGElement {
  const W = 520;
  const H = 200;
  const m = { l: 64, r: 10, t: 10, b: 30 };
  const { bars, max } = histogramBars(h.histogram, W - m.l - m.r, H - m.t - m.b, logY);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart hist', role: 'img' });
  root.appendChild(svgTitle(`histogram of ${hookName(h)}`));
  const g = svg('g', { transform: `translate(${m.l} ${m.t})` });
  for (const b of bars) {
    if (b.count === 0) continue;
    const r = svg('rect', { x: b.x.toFixed(2), y: b.y.toFixed(2), width: Math.max(0.5, b.w - 0.5).toFixed(2), height: Math.max(0.5, b.h).toFixed(2), class: 'bar' });
    r.appendChild(svgTitle(`[${fmtNum(b.lo)}, ${fmtNum(b.hi)}): ${fmtInt(b.count)}`));
    g.appendChild(r);
  }
  root.appendChild(g);
  const y0 = H - m.b;
  root.appendChild(svg('line', { x1: m.l, x2: W - m.r, y1: y0, y2: y0, class: 'axis-line' }));
  root.appendChild(svg('text', { x: m.l, y: H - 12, class: 'tick' }, fmtNum(h.histogram.lo)));
  root.appendChild(svg('text', { x: W - m.r, y: H - 12, 'text-anchor': 'end', class: 'tick' }, fmtNum(h.histogram.hi)));
  if (h.histogram.lo < 0 && h.histogram.hi > 0) {
    const x0 = m.l + ((0 - h.histogram.lo) / (h.histogram.hi - h.histogram.lo)) * (W - m.l - m.r);
    root.appendChild(svg('line', { x1: x0, x2: x0, y1: m.t, y2: y0 + 4, class: 'grid' }));
    root.appendChild(svg('text', { x: x0, y: H - 12, 'text-anchor': 'middle', class: 'tick' }, '0'));
  }
  root.appendChild(svg('text', { x: m.l - 6, y: m.t + 10, 'text-anchor': 'end', class: 'tick' }, fmtInt(max)));
  root.appendChild(svg('text', { x: m.l - 6, y: y0, 'text-anchor': 'end', class: 'tick' }, logY ? '0 (log)' : '0'));
  return root;
}

export function createActivationsView(ctx: AppContext): View {
  const root = byId('view-activations');
  const source = el('select', { id: 'act-source', attrs: { 'aria-label': 'source' } });
  fillSelect(source, sourceOptions(ctx.info));
  const run = el('button', { id: 'act-run', type: 'button', class: 'primary' }, 'Run activations');
  const summary = el('div', { id: 'act-summary', class: 'dim' });
  const tableBox = el('div', { id: 'act-table', class: 'scroll-y act-table' });
  const logy = el('input', { id: 'act-logy', type: 'checkbox', attrs: { checked: true } });
  const histTitle = el('h3', { id: 'act-hist-title' }, 'Histogram');
  const hist = el('div', { id: 'act-hist' });
  const massive = el('div', { id: 'act-massive', class: 'scroll-y small-list' });
  const neurons = el('div', { id: 'act-neurons', class: 'small-list' });
  const norms = el('div', { id: 'act-norms' });
  tableBox.appendChild(emptyNote('Run on the prompt or a data file.'));

  root.append(
    el('div', { class: 'toolbar' }, run, el('label', { class: 'field' }, el('span', { class: 'field-label' }, 'on'), source), summary),
    el(
      'div',
      { class: 'split wide-left' },
      el('div', {}, el('h3', {}, 'Hooks'), tableBox),
      el(
        'div',
        {},
        histTitle,
        el('label', { class: 'check' }, logy, ' log-scale counts'),
        hist,
        el('h3', {}, 'Massive dimensions'),
        massive,
        el('h3', {}, 'Dead / always-on neurons'),
        neurons,
      ),
    ),
    el('h3', {}, 'Residual stream norm along the layers'),
    norms,
  );

  let reply: ActivationsReply | null = null;
  let selected = -1;

  const showHist = () => {
    clear(hist);
    if (!reply || selected < 0) return;
    const h = reply.hooks[selected];
    histTitle.textContent = `Histogram of ${hookName(h)}`;
    hist.appendChild(histogramSvg(h, logy.checked));
  };

  const pick = (i: number) => {
    selected = i;
    tableBox.querySelectorAll('tr[data-i]').forEach((tr) => tr.classList.toggle('selected', Number((tr as HTMLElement).dataset.i) === i));
    showHist();
  };

  const render = () => {
    if (!reply) return;
    const r = reply;
    summary.textContent = `${r.n_docs ?? 1} document(s), ${r.n_tokens ?? '?'} tokens, ${r.hooks.length} hooks`;
    clear(tableBox);
    const t = el('table', { class: 'data sticky' });
    t.appendChild(
      el('thead', {}, el('tr', {}, ...['hook', 'mean', 'std', 'kurtosis', 'min', 'max', 'mean |x|', 'norm', 'NaN', 'Inf', 'flags'].map((h) => el('th', {}, h)))),
    );
    const body = el('tbody');
    r.hooks.forEach((h, i) => {
      const flags = hookFlags(h);
      const tr = el(
        'tr',
        { data: { i }, attrs: { tabindex: 0 }, class: h.nan > 0 || h.inf > 0 ? 'bad' : '' },
        el('td', { class: 'mono', title: hookName(h) }, shortHook(hookName(h))),
        el('td', { class: 'num' }, fmtNum(h.mean)),
        el('td', { class: 'num' }, fmtNum(h.std)),
        el('td', { class: `num ${h.kurtosis !== null && h.kurtosis > 50 ? 'warn' : ''}` }, fmtNum(h.kurtosis)),
        el('td', { class: 'num' }, fmtNum(h.min)),
        el('td', { class: 'num' }, fmtNum(h.max)),
        el('td', { class: 'num' }, fmtNum(h.mean_abs)),
        el('td', { class: 'num' }, fmtNum(h.mean_norm)),
        el('td', { class: 'num' }, String(h.nan)),
        el('td', { class: 'num' }, String(h.inf)),
        el('td', { class: 'flags' }, flags.join(', ')),
      );
      tr.addEventListener('click', () => pick(i));
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          pick(i);
        }
      });
      body.appendChild(tr);
    });
    t.appendChild(body);
    tableBox.appendChild(t);

    clear(massive);
    const ml = massiveList(r.hooks);
    if (ml.length === 0) massive.appendChild(emptyNote('none'));
    else
      massive.appendChild(
        el(
          'table',
          { class: 'data' },
          el('thead', {}, el('tr', {}, ...['hook', 'dim', 'max |x|', 'ratio to median'].map((h) => el('th', {}, h)))),
          el('tbody', {}, ...ml.slice(0, 50).map((m) => el('tr', {}, el('td', { class: 'mono' }, shortHook(m.hook)), el('td', { class: 'num' }, String(m.dim)), el('td', { class: 'num' }, fmtNum(m.max_abs)), el('td', { class: 'num' }, fmtNum(m.ratio))))),
        ),
      );

    clear(neurons);
    const nl = neuronLists(r.hooks);
    if (nl.length === 0) neurons.appendChild(emptyNote('no MLP hooks reported'));
    for (const n of nl) {
      const list = (xs: number[]) => (xs.length === 0 ? 'none' : xs.slice(0, 40).join(', ') + (xs.length > 40 ? ` … (+${xs.length - 40})` : ''));
      neurons.appendChild(
        el(
          'div',
          { class: 'neuron-row' },
          el('span', { class: 'mono' }, shortHook(n.hook)),
          ` dead ${n.dead.length}${n.width ? `/${n.width}` : ''}: ${list(n.dead)}; always on ${n.alwaysOn.length}: ${list(n.alwaysOn)}`,
        ),
      );
    }

    clear(norms);
    const ns = normSeries(r.hooks);
    if (ns.length === 0) norms.appendChild(emptyNote('no residual-stream hooks'));
    else
      norms.appendChild(
        lineChart({
          height: 240,
          series: [{ name: 'mean ‖x‖ of the residual stream', values: ns.map((p) => p.value), color: '#1f5fa8', axis: 'left' }],
          left: { label: 'mean norm' },
          xTicks: ns.map((p) => ({ i: p.i, label: shortHook(p.hook).replace('resid_', '') })),
          pointName: (i) => ns[i].hook,
        }),
      );
    pick(selected >= 0 && selected < r.hooks.length ? selected : 0);
  };

  const doRun = async () => {
    const src = sourceOf(source.value, ctx.prompt());
    if ('prompt' in src && needPrompt(ctx) === null) return;
    const r = await ctx.guard('activations', () => ctx.api.activations(src), run);
    if (!r) return;
    reply = r;
    render();
  };
  run.addEventListener('click', () => void doRun());
  logy.addEventListener('change', showHist);
  return { id: 'activations', title: 'Activations', root, run: () => void doRun() };
}
