// Profile: time per op kind and per layer, a timeline of one pass, totals and memory.

import { needPrompt, type AppContext, type View } from '../app';
import { hbars } from '../chart';
import { byId, clear, el, fillSelect, svg, svgTitle, table } from '../dom';
import { fmtBytes, fmtMs, fmtNum, fmtPercent } from '../format';
import { estimatedTimeline, kindBars, kindColor, layerBars, phaseTotals, traceTimeline, tracePasses, type Timeline } from '../models/profile';
import type { ProfileReply } from '../types';
import { emptyNote, field, numberInput, numberValue } from './common';

function timelineSvg(t: Timeline, kinds: string[]): SVGSVGElement {
  const W = 1000;
  const rowH = 14;
  // One lane per layer (embed/unembed = -1 on its own lane), ops drawn at their start time.
  const layers = [...new Set(t.spans.map((s) => s.layer))].sort((a, b) => (a < 0 ? 1e9 : a) - (b < 0 ? 1e9 : b));
  const m = { l: 90, r: 10, t: 8, b: 26 };
  const H = m.t + m.b + layers.length * (rowH + 4);
  const total = t.total > 0 ? t.total : Math.max(1, ...t.spans.map((s) => s.start + s.dur));
  const x = (us: number) => m.l + (us / total) * (W - m.l - m.r);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart timeline', role: 'img' });
  root.appendChild(svgTitle(t.name));
  layers.forEach((l, li) => {
    const y = m.t + li * (rowH + 4);
    root.appendChild(svg('text', { x: m.l - 6, y: y + rowH - 3, 'text-anchor': 'end', class: 'tick' }, l < 0 ? 'embed/unembed' : `layer ${l}`));
    root.appendChild(svg('line', { x1: m.l, x2: W - m.r, y1: y + rowH + 2, y2: y + rowH + 2, class: 'grid' }));
  });
  for (const s of t.spans) {
    const li = layers.indexOf(s.layer);
    const y = m.t + li * (rowH + 4);
    const r = svg('rect', { x: x(s.start).toFixed(2), y, width: Math.max(0.6, x(s.start + s.dur) - x(s.start)).toFixed(2), height: rowH, fill: kindColor(s.kind, kinds), class: 'span' });
    r.appendChild(svgTitle(`op ${s.op} ${s.label} (${s.kind})\nstart ${fmtNum(s.start / 1000)} ms, ${fmtNum(s.dur)} µs`));
    root.appendChild(r);
  }
  const y0 = H - m.b + 4;
  root.appendChild(svg('line', { x1: m.l, x2: W - m.r, y1: y0, y2: y0, class: 'axis-line' }));
  for (let i = 0; i <= 4; i++) {
    const us = (total * i) / 4;
    root.appendChild(svg('text', { x: x(us), y: y0 + 14, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle', class: 'tick' }, fmtMs(us / 1000)));
  }
  return root;
}

export function createProfileView(ctx: AppContext): View {
  const root = byId('view-profile');
  const ngen = numberInput('prof-ngen', 8, { min: 0, max: 4096 });
  const run = el('button', { id: 'prof-run', type: 'button', class: 'primary' }, 'Run profile');
  const phaseSel = el('select', { id: 'prof-phase', attrs: { 'aria-label': 'phase' } });
  const passSel = el('select', { id: 'prof-pass', attrs: { 'aria-label': 'pass for the timeline' } });
  const totals = el('div', { id: 'prof-totals', class: 'scroll-x' });
  const kinds = el('div', { id: 'prof-kinds' });
  const layersBox = el('div', { id: 'prof-layers' });
  const timeline = el('div', { id: 'prof-timeline', class: 'scroll-x' });
  const tlNote = el('p', { class: 'dim', id: 'prof-timeline-note' });
  const legend = el('div', { id: 'prof-legend', class: 'legend-row' });
  const memory = el('div', { id: 'prof-memory' });
  totals.appendChild(emptyNote('Profile the prompt: a prefill pass, then n greedy decode steps.'));
  root.append(
    el('div', { class: 'toolbar' }, run, field('decode steps', ngen, 'field small'), el('label', { class: 'field' }, el('span', { class: 'field-label' }, 'phase'), phaseSel)),
    totals,
    el('div', { class: 'split' }, el('div', {}, el('h3', {}, 'Time per op kind'), kinds), el('div', {}, el('h3', {}, 'Time per layer'), layersBox)),
    el('div', { class: 'toolbar' }, el('h3', {}, 'Timeline of one pass'), el('label', { class: 'field' }, el('span', { class: 'field-label' }, 'pass'), passSel)),
    tlNote,
    legend,
    timeline,
    el('h3', {}, 'Memory'),
    memory,
  );

  let reply: ProfileReply | null = null;

  const renderPhase = () => {
    if (!reply) return;
    const p = reply.phases.find((x) => x.phase === phaseSel.value) ?? reply.phases[0];
    if (!p) return;
    clear(kinds);
    const allKinds = [...new Set(reply.phases.flatMap((x) => x.by_kind.map((k) => k.kind)))];
    kinds.appendChild(
      hbars(kindBars(p).map((b) => ({ label: b.label, frac: b.frac, value: `${fmtMs(b.ms)} · ${fmtPercent(b.percent)}`, title: `${b.label}: ${b.calls} calls, ${fmtMs(b.ms)} (${fmtPercent(b.percent)}) ${b.detail}`, color: kindColor(b.label, allKinds) }))),
    );
    clear(layersBox);
    const lb = layerBars(p);
    if (lb.length === 0) layersBox.appendChild(emptyNote('no per-layer data'));
    else layersBox.appendChild(hbars(lb.map((b) => ({ label: b.label, frac: b.frac, value: `${fmtMs(b.ms)} · ${fmtPercent(b.percent)}` }))));
  };

  const renderTimeline = () => {
    if (!reply) return;
    const allKinds = [...new Set(reply.phases.flatMap((x) => x.by_kind.map((k) => k.kind)))];
    const passes = tracePasses(reply);
    let t: Timeline | null = null;
    const v = passSel.value;
    if (v.startsWith('trace:')) {
      const pass = passes[Number(v.slice(6))];
      if (pass) t = traceTimeline(reply, pass);
    } else if (v.startsWith('est:')) {
      const p = reply.phases.find((x) => x.phase === v.slice(4));
      if (p) t = estimatedTimeline(p);
    }
    clear(timeline);
    clear(legend);
    if (!t || t.spans.length === 0) {
      timeline.appendChild(emptyNote('no per-op timings'));
      tlNote.textContent = '';
      return;
    }
    tlNote.textContent = t.measured
      ? `${t.name}: ${t.spans.length} ops measured, ${fmtMs(t.total / 1000)}`
      : `${t.name}: no trace in the reply; ops laid end to end in program order with their mean time per pass (${fmtMs(t.total / 1000)})`;
    for (const k of allKinds) {
      const sw = el('span', { class: 'swatch' }, k);
      sw.style.background = kindColor(k, allKinds);
      sw.style.color = '#fff';
      legend.appendChild(sw);
    }
    timeline.appendChild(timelineSvg(t, allKinds));
  };

  const render = (r: ProfileReply) => {
    reply = r;
    clear(totals);
    totals.appendChild(
      table(
        ['phase', 'passes', 'tokens', 'wall', 'in ops', 'tokens/s', 'top kind'],
        phaseTotals(r).map((t) => [t.phase, String(t.passes), String(t.tokens), fmtMs(t.ms), fmtMs(t.opsMs), fmtNum(t.tokensPerS), `${t.topKind} (${fmtPercent(t.topKindPercent)})`]),
      ),
    );
    if (r.model_type || r.n_threads) totals.appendChild(el('p', { class: 'dim' }, `${r.model_type ?? ''} · ${r.n_threads ?? '?'} threads`));
    fillSelect(phaseSel, r.phases.map((p) => [p.phase, p.phase]));
    const passes = tracePasses(r);
    const opts: [string, string][] = passes.map((p) => [`trace:${p.index}`, `${p.name} (${fmtMs(p.dur / 1000)})`]);
    for (const p of r.phases) if ((p.ops ?? []).length) opts.push([`est:${p.phase}`, `${p.phase}: mean pass (estimated)`]);
    fillSelect(passSel, opts);
    clear(memory);
    const mem = r.memory ?? {};
    memory.appendChild(table(['what', 'bytes'], Object.entries(mem).map(([k, v]) => [k.replace(/_/g, ' '), fmtBytes(v)])));
    renderPhase();
    renderTimeline();
  };

  const doRun = async () => {
    const p = needPrompt(ctx);
    if (p === null) return;
    const r = await ctx.guard('profile', () => ctx.api.profile(p, numberValue(ngen, 8)), run);
    if (r) render(r);
  };
  run.addEventListener('click', () => void doRun());
  phaseSel.addEventListener('change', renderPhase);
  passSel.addEventListener('change', renderTimeline);
  return { id: 'profile', title: 'Profile', root, run: () => void doRun() };
}
