// Diff against the reference model: NMSE and lens KL along the program, the first
// divergence, PPL / KLD summary and the worst tokens.

import { needPrompt, sourceOf, sourceOptions, type AppContext, type View } from '../app';
import { lineChart } from '../chart';
import { byId, clear, el, fillSelect, table } from '../dom';
import { basename, fmtNum, fmtProb } from '../format';
import { diffSeries } from '../models/diff';
import type { DiffReply } from '../types';
import { emptyNote, tokenText } from './common';

function summary(r: DiffReply): HTMLElement {
  const dl = el('dl', { class: 'summary' });
  const add = (k: string, v: string, title?: string) => dl.append(el('dt', {}, k), el('dd', { title: title ?? '' }, v));
  const pm = (v: number | undefined, e: number | undefined) => (v === undefined ? '–' : `${fmtNum(v, 4)}${e !== undefined ? ` ± ${fmtNum(e, 2)}` : ''}`);
  add('reference', basename(r.reference), r.reference);
  add('candidate', basename(r.candidate), r.candidate);
  add('documents / tokens scored', `${r.n_docs} / ${r.n_tokens_scored} of ${r.n_tokens}`);
  add('PPL reference', pm(r.ppl.reference, r.ppl.reference_error));
  add('PPL candidate', pm(r.ppl.candidate, r.ppl.candidate_error));
  add('PPL ratio', pm(r.ppl.ratio, r.ppl.ratio_error));
  add('KLD mean', pm(r.kld.mean, r.kld.error));
  const pc = r.kld.percentiles ?? {};
  add('KLD median / p90 / p99 / max', [r.kld.median, pc['90.0'] ?? pc['90'], pc['99.0'] ?? pc['99'], r.kld.max].map((v) => fmtNum(v)).join(' / '));
  add('same top-1', `${fmtProb(r.same_top_p)}${r.same_top_p_error !== undefined ? ` ± ${fmtProb(r.same_top_p_error)}` : ''}`);
  if (r.delta_p) add('Δp mean / rms', `${fmtNum(r.delta_p.mean)} / ${fmtNum(r.delta_p.rms)}`);
  return dl;
}

export function createDiffView(ctx: AppContext): View {
  const root = byId('view-diff');
  const hasRef = !!ctx.info?.reference;
  const source = el('select', { id: 'diff-source', attrs: { 'aria-label': 'source' } });
  fillSelect(source, sourceOptions(ctx.info));
  const run = el('button', { id: 'diff-run', type: 'button', class: 'primary' }, 'Run diff');
  const disabled = el(
    'p',
    { id: 'diff-disabled', class: 'notice' },
    'Diff compares this model with a reference model, and loupe serve was started without one. Restart it with --reference MODEL (for example the f32 model when serving a quantized one) to enable this view.',
  );
  const first = el('div', { id: 'diff-first', class: 'metric-line' });
  const chart = el('div', { id: 'diff-chart' });
  const sum = el('div', { id: 'diff-summary' });
  const worst = el('div', { id: 'diff-worst', class: 'scroll-x' });
  const layerTable = el('details', { id: 'diff-layers' });
  if (!hasRef) {
    run.disabled = true;
    source.disabled = true;
  } else disabled.hidden = true;
  chart.appendChild(emptyNote(hasRef ? 'Run on the prompt or a data file.' : ''));
  root.append(
    disabled,
    el('div', { class: 'toolbar' }, run, el('label', { class: 'field' }, el('span', { class: 'field-label' }, 'on'), source)),
    first,
    chart,
    el('div', { class: 'split halves' }, el('div', {}, el('h3', {}, 'Summary'), sum), el('div', {}, el('h3', {}, 'Worst tokens'), worst)),
    layerTable,
  );

  const render = (r: DiffReply) => {
    const s = diffSeries(r);
    clear(first);
    const name = (i: number) => (i >= 0 ? `${r.layers[i].hook} (op ${r.layers[i].op}, #${i})` : 'none');
    if (r.first_divergence) {
      first.append(
        el('strong', {}, 'first divergence: '),
        el('span', { class: 'mono', id: 'diff-first-name' }, s.firstIndex >= 0 ? name(s.firstIndex) : r.first_divergence.hook),
        ` NMSE ${fmtNum(r.first_divergence.nmse)} (max before ${fmtNum(r.first_divergence.max_nmse_before)})`,
      );
    } else first.append(el('strong', {}, 'no divergence found'));
    if (r.largest_jump) first.append(el('br'), el('strong', {}, 'largest jump: '), el('span', { class: 'mono' }, r.largest_jump.hook), ` NMSE ${fmtNum(r.largest_jump.nmse)}`);

    clear(chart);
    const markers = [];
    if (s.firstIndex >= 0) markers.push({ i: s.firstIndex, label: `first divergence: ${r.layers[s.firstIndex].hook}`, color: '#c0392b' });
    if (s.largestJumpIndex >= 0 && s.largestJumpIndex !== s.firstIndex) markers.push({ i: s.largestJumpIndex, label: `largest jump: ${r.layers[s.largestJumpIndex].hook}`, color: '#8e44ad' });
    chart.appendChild(
      lineChart({
        height: 320,
        series: [
          { name: 'NMSE (log)', values: s.points.map((p) => p.nmse), color: '#1f5fa8', axis: 'left' },
          { name: 'logit-lens KL (log, residual hooks)', values: s.points.map((p) => p.lensKl), color: '#e67e22', axis: 'right', dash: '5 3', connectGaps: true },
        ],
        left: { label: 'NMSE', log: true },
        right: { label: 'logit-lens KL (nats)', log: true },
        xTicks: s.layerTicks,
        pointName: (i) => `#${i} ${r.layers[i].hook}\nop ${r.layers[i].op}`,
        markers,
      }),
    );

    clear(sum);
    sum.appendChild(summary(r));

    clear(worst);
    if (r.worst_tokens.length === 0) worst.appendChild(emptyNote('none'));
    else
      worst.appendChild(
        table(
          ['doc:line', 'pos', 'token', 'context', 'KLD', 'p ref', 'p cand', 'top ref/cand'],
          r.worst_tokens.map((w) => [
            el('span', { title: `document ${w.doc}, line ${w.line} of the file` }, `${w.doc}:${w.line}`),
            String(w.pos),
            tokenText(w.text),
            el('span', { class: 'context', title: w.context }, w.context.replace(/\n/g, '↵').slice(-60)),
            fmtNum(w.kld),
            fmtProb(w.p_reference),
            fmtProb(w.p_candidate),
            `${w.top_reference}${w.top_reference === w.top_candidate ? ' =' : ' ≠ ' + w.top_candidate}`,
          ]),
        ),
      );

    clear(layerTable);
    layerTable.append(
      el('summary', {}, `all ${r.layers.length} hooks`),
      table(
        ['#', 'hook', 'op', 'NMSE', 'cosine', 'max |Δ|', 'lens KL'],
        r.layers.map((l, i) => [String(i), el('span', { class: 'mono' }, l.hook), el('span', { class: 'mono dim' }, l.op), fmtNum(l.nmse), fmtNum(l.cosine, 6), fmtNum(l.max_abs_diff), fmtNum(l.lens_kl)]),
      ),
    );
  };

  const doRun = async () => {
    if (!hasRef) {
      ctx.status.error(new Error('diff needs a reference model (loupe serve --reference MODEL)'));
      return;
    }
    const src = sourceOf(source.value, ctx.prompt());
    if ('prompt' in src && needPrompt(ctx) === null) return;
    const r = await ctx.guard('diff', () => ctx.api.diff(src), run);
    if (r) render(r);
  };
  run.addEventListener('click', () => void doRun());
  return { id: 'diff', title: 'Diff', root, run: () => void doRun() };
}
