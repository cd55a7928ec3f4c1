// Explore a data file: counts, length percentiles, top n-grams, duplicates and problems.

import type { AppContext, View } from '../app';
import { byId, clear, el, fillSelect, table } from '../dom';
import { basename, fmtInt, fmtNum, fmtPercent, visibleToken } from '../format';
import type { DocExample, ExploreReply } from '../types';
import { emptyNote } from './common';

function examples(list: DocExample[] | undefined, withOriginal: boolean): HTMLElement {
  if (!list || list.length === 0) return emptyNote('none');
  return table(
    withOriginal ? ['where', 'duplicate of', 'snippet'] : ['where', 'characters', 'snippet'],
    list.map((d) => [
      `${basename(d.source)}:${d.line}`,
      withOriginal ? `${basename(d.original_source ?? '')}:${d.original_line ?? ''}` : fmtInt(d.characters),
      el('span', { class: 'snippet' }, d.snippet),
    ]),
  );
}

export function createExploreView(ctx: AppContext): View {
  const root = byId('view-explore');
  const data = ctx.info?.data ?? [];
  const sel = el('select', { id: 'explore-data', attrs: { 'aria-label': 'data file' } });
  fillSelect(sel, data.map((d, i) => [String(i), d]));
  const run = el('button', { id: 'explore-run', type: 'button', class: 'primary' }, 'Explore');
  const summary = el('div', { id: 'explore-summary' });
  const lengths = el('div', { id: 'explore-lengths', class: 'scroll-x' });
  const ngrams = el('div', { id: 'explore-ngrams' });
  const dups = el('div', { id: 'explore-dups' });
  const problems = el('div', { id: 'explore-problems' });
  if (data.length === 0) {
    run.disabled = true;
    sel.disabled = true;
    summary.appendChild(el('p', { class: 'notice' }, 'No data files: start loupe serve with --data FILE to explore one.'));
  } else summary.appendChild(emptyNote('Pick a data file and explore it.'));
  root.append(
    el('div', { class: 'toolbar' }, run, el('label', { class: 'field' }, el('span', { class: 'field-label' }, 'data file'), sel)),
    summary,
    el('h3', {}, 'Length percentiles'),
    lengths,
    el('h3', {}, 'Top n-grams'),
    ngrams,
    el('h3', {}, 'Duplicates'),
    dups,
    el('h3', {}, 'Problems'),
    problems,
  );

  const render = (r: ExploreReply) => {
    clear(summary);
    const dl = el('dl', { class: 'summary cols' });
    const add = (k: string, v: string) => dl.append(el('dt', {}, k), el('dd', {}, v));
    add('sources', r.sources.map(basename).join(', '));
    add('documents', fmtInt(r.documents));
    add('characters', fmtInt(r.characters));
    add('bytes', fmtInt(r.bytes));
    add('words', fmtInt(r.words));
    add('lines', fmtInt(r.lines));
    add('empty documents', fmtInt(r.empty_documents));
    add('whitespace-only', fmtInt(r.whitespace_only_documents));
    add('exact duplicates', fmtInt(r.exact_duplicate_documents));
    add('near duplicates', fmtInt(r.near_duplicate_documents));
    if (r.invalid_utf8) add('invalid UTF-8 documents', fmtInt(r.invalid_utf8.documents));
    if (r.control_characters !== undefined) add('control characters', fmtInt(r.control_characters));
    const tok = r.tokenizer as Record<string, number> | undefined;
    if (tok && typeof tok.tokens === 'number') add('tokens', fmtInt(tok.tokens));
    summary.appendChild(dl);

    clear(lengths);
    const lp = r.length_percentiles ?? {};
    const keys = ['min', 'p1', 'p5', 'p10', 'p25', 'p50', 'p75', 'p90', 'p95', 'p99', 'max', 'mean'];
    lengths.appendChild(table(['unit', ...keys], Object.entries(lp).map(([unit, p]) => [unit, ...keys.map((k) => fmtNum(p[k]))])));

    clear(ngrams);
    for (const [kind, byN] of Object.entries(r.top_ngrams ?? {})) {
      const row = el('div', { class: 'ngram-row' });
      for (const [n, list] of Object.entries(byN)) {
        const total = list.reduce((s, [, c]) => s + c, 0);
        row.appendChild(
          el(
            'div',
            { class: 'ngram-col' },
            el('h4', {}, `${kind} ${n}-grams`),
            table(
              ['n-gram', 'count'],
              list.slice(0, 20).map(([g, c]) => [el('span', { class: 'mono', title: JSON.stringify(g) }, kind === 'words' ? g : visibleToken(g)), `${fmtInt(c)}${total ? '' : ''}`]),
              'data compact',
            ),
          ),
        );
      }
      ngrams.appendChild(row);
    }

    clear(dups);
    const d = r.duplicates;
    if (!d) dups.appendChild(emptyNote('not reported'));
    else {
      const checked = d.checked_documents ?? r.documents;
      dups.append(
        el('p', {}, `exact duplicate documents ${fmtInt(d.exact_duplicate_documents)} in ${fmtInt(d.exact_duplicate_groups)} groups; near duplicates ${fmtInt(d.near_duplicate_documents)} (${fmtPercent(checked ? (100 * d.near_duplicate_documents) / checked : 0)} of ${fmtInt(checked)} checked)`),
        d.near_method ? el('p', { class: 'dim' }, `near-duplicate method: ${d.near_method}`) : '',
        el('h4', {}, 'exact duplicates'),
        examples(d.exact_examples, true),
        el('h4', {}, 'near duplicates'),
        examples(d.near_examples, true),
      );
    }
    dups.append(el('h4', {}, 'longest documents'), examples(r.longest_documents, false), el('h4', {}, 'shortest documents'), examples(r.shortest_documents, false));

    clear(problems);
    const pr = r.problems;
    const list: unknown[] = Array.isArray(pr) ? pr : (pr?.list ?? []);
    if (list.length === 0) problems.appendChild(emptyNote('none'));
    else problems.appendChild(table(['problem'], list.slice(0, 100).map((p) => [Array.isArray(p) ? p.join(' · ') : JSON.stringify(p)])));
  };

  const doRun = async () => {
    if (data.length === 0) {
      ctx.status.error(new Error('no data files (loupe serve --data FILE)'));
      return;
    }
    const r = await ctx.guard('explore', () => ctx.api.explore(Number(sel.value)), run);
    if (r) render(r);
  };
  run.addEventListener('click', () => void doRun());
  return { id: 'explore', title: 'Explore', root, run: () => void doRun() };
}
