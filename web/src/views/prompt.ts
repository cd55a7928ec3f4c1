// Prompt view: per-token loss strip with tooltips, next-token prediction, and generation.

import { needPrompt, type AppContext, type View } from '../app';
import { lossToUnit, sample, css, textOn } from '../colors';
import { byId, clear, el } from '../dom';
import { fmtLoss, fmtProb, visibleToken } from '../format';
import { legendStops, splitGenerated } from '../models/prompt';
import type { GenerateReply, RunReply, RunToken } from '../types';
import { field, numberInput, numberValue, topTable, emptyNote } from './common';
import { attachTooltip } from './tooltip';

const LOSS_MAX = 8;

function tooltipContent(t: RunToken, i: number): (HTMLElement | string)[] {
  const head = el(
    'div',
    { class: 'tip-head' },
    el('span', { class: 'tt' }, visibleToken(t.text)),
    el('span', { class: 'dim' }, ` pos ${i} · id ${t.id}`),
  );
  if (t.loss === null) return [head, el('div', { class: 'dim' }, 'first token: nothing predicts it')];
  return [
    head,
    el(
      'div',
      { class: 'tip-stats' },
      `loss ${fmtLoss(t.loss)} nats · p ${fmtProb(Math.exp(-t.loss))} · rank ${t.rank ?? '–'} · entropy ${fmtLoss(t.entropy)}`,
    ),
    el('div', { class: 'tip-sub' }, 'expected instead:'),
    topTable(t.top, t.id),
  ];
}

export function renderLegend(box: HTMLElement): void {
  clear(box);
  box.append(el('span', { class: 'dim' }, 'loss (nats): '));
  for (const v of legendStops(LOSS_MAX, 6)) {
    const rgb = sample(lossToUnit(v, LOSS_MAX));
    const sw = el('span', { class: 'swatch' }, v.toFixed(v < 1 && v > 0 ? 1 : 0) + (v >= LOSS_MAX ? '+' : ''));
    sw.style.background = css(rgb);
    sw.style.color = textOn(rgb);
    box.append(sw);
  }
}

export function renderTokens(box: HTMLElement, r: RunReply): void {
  clear(box);
  r.tokens.forEach((t, i) => {
    const rgb = sample(lossToUnit(t.loss, LOSS_MAX));
    const span = el(
      'span',
      {
        class: 'tok',
        data: { pos: i },
        attrs: { tabindex: 0, 'aria-label': `token ${i} ${JSON.stringify(t.text)} loss ${fmtLoss(t.loss)}` },
      },
      visibleToken(t.text),
    );
    span.style.background = css(rgb);
    span.style.color = textOn(rgb);
    if (t.text.includes('\n')) span.classList.add('nl');
    attachTooltip(span, () => tooltipContent(t, i));
    box.appendChild(span);
  });
}

export function createPromptView(ctx: AppContext): View {
  const root = byId('view-prompt');
  const topk = numberInput('run-topk', 5, { min: 1, max: 100 });
  const run = el('button', { id: 'run', type: 'button', class: 'primary' }, 'Run');
  const mean = el('span', { id: 'mean-loss', class: 'metric' });
  const tokens = el('div', { id: 'tokens', class: 'tokens', attrs: { 'aria-label': 'prompt tokens coloured by loss' } });
  const legend = el('div', { id: 'loss-legend', class: 'legend-row' });
  const next = el('div', { id: 'next', class: 'next' });

  const genN = numberInput('gen-n', 32, { min: 0, max: 4096 });
  const genTemp = numberInput('gen-temp', 0.8, { min: 0, step: 0.1 });
  const genTopk = numberInput('gen-topk', 40, { min: 0 });
  const genTopp = numberInput('gen-topp', 0.95, { min: 0, max: 1, step: 0.05 });
  const genSeed = numberInput('gen-seed', 42, { min: 0 });
  const generate = el('button', { id: 'generate', type: 'button' }, 'Generate');
  const genOut = el('div', { id: 'gen-output', class: 'gen-output' });
  const genMeta = el('div', { id: 'gen-meta', class: 'dim' });

  renderLegend(legend);
  tokens.appendChild(emptyNote('Run the prompt to see each token coloured by its loss.'));

  root.append(
    el('div', { class: 'toolbar' }, run, field('top-k', topk, 'field small'), el('span', { class: 'dim' }, 'mean loss '), mean),
    legend,
    tokens,
    el('h3', {}, 'Next token'),
    next,
    el('h3', {}, 'Generate'),
    el(
      'div',
      { class: 'toolbar' },
      field('tokens', genN, 'field small'),
      field('temperature', genTemp, 'field small'),
      field('top-k', genTopk, 'field small'),
      field('top-p', genTopp, 'field small'),
      field('seed', genSeed, 'field small'),
      generate,
    ),
    genMeta,
    genOut,
  );

  const doRun = async () => {
    const p = needPrompt(ctx);
    if (p === null) return;
    const r = await ctx.guard('run', () => ctx.api.run(p, numberValue(topk, 5)), run);
    if (!r) return;
    renderTokens(tokens, r);
    mean.textContent = r.mean_loss === null ? '–' : `${fmtLoss(r.mean_loss)} nats (ppl ${fmtLoss(Math.exp(r.mean_loss))})`;
    clear(next);
    next.appendChild(topTable(r.next));
  };

  const renderGen = (r: GenerateReply) => {
    clear(genOut);
    const { prompt, generated } = splitGenerated(r);
    const pre = el('div', { class: 'gen-text' });
    for (const t of prompt) pre.appendChild(el('span', { class: 'gen-prompt', title: `prompt token ${t.id}` }, t.text));
    for (const t of generated) pre.appendChild(el('span', { class: 'gen-new', title: `generated token ${t.id} ${JSON.stringify(t.text)}` }, t.text));
    genOut.appendChild(pre);
    genOut.appendChild(el('details', {}, el('summary', {}, 'full text as returned'), el('pre', { class: 'raw' }, r.text)));
    genMeta.textContent = `${generated.length} tokens generated after ${r.n_prompt} prompt tokens; stop: ${r.stop}`;
  };

  const doGenerate = async () => {
    const p = needPrompt(ctx);
    if (p === null) return;
    const r = await ctx.guard(
      'generate',
      () =>
        ctx.api.generate({
          prompt: p,
          n_predict: numberValue(genN, 32),
          temperature: numberValue(genTemp, 0.8),
          top_k: numberValue(genTopk, 40),
          top_p: numberValue(genTopp, 0.95),
          seed: numberValue(genSeed, 42),
        }),
      generate,
    );
    if (r) renderGen(r);
  };

  run.addEventListener('click', () => void doRun());
  generate.addEventListener('click', () => void doGenerate());
  return { id: 'prompt', title: 'Prompt', root, run: () => void doRun() };
}
