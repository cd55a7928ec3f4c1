// Debugger: the program listing with breakpoints, stepping, a command line, watches, edits
// and the effect of an edit on the next-token prediction.

import { needPrompt, type AppContext, type View } from '../app';
import { byId, clear, el, fillSelect } from '../dom';
import { fmtProb } from '../format';
import { ablateEdit, focusIndex, hookEdit, listingModel, toggleBreakpointCommand, whereLine } from '../models/debug';
import type { DebugState, EffectReply } from '../types';
import { emptyNote, tokenText, topTable } from './common';

export function createDebugView(ctx: AppContext): View {
  const root = byId('view-debug');
  const start = el('button', { id: 'dbg-start', type: 'button', class: 'primary', title: 'start a debugger session on the prompt' }, 'Start on prompt');
  const btn = (id: string, label: string, title: string) => el('button', { id, type: 'button', title }, label);
  const bRun = btn('dbg-run', 'Run', 'run: from the start to the first breakpoint');
  const bStep = btn('dbg-step', 'Step', 'step: one op');
  const bNext = btn('dbg-next', 'Next', 'next: to the next hook');
  const bCont = btn('dbg-continue', 'Continue', 'continue: to the next breakpoint');
  const bFinish = btn('dbg-finish', 'Finish', 'finish: to the end of the layer');
  const refresh = btn('dbg-refresh', 'Refresh', 'fetch the session state');
  const where = el('div', { id: 'dbg-where', class: 'metric-line mono' }, 'no debugger session');
  const cond = el('input', { id: 'dbg-cond', type: 'text', attrs: { placeholder: 'e.g. max > 10', 'aria-label': 'condition of new breakpoints', spellcheck: 'false' } });
  const listing = el('div', { id: 'dbg-listing', class: 'listing' });
  listing.appendChild(emptyNote('Start a session to see the program.'));
  const cmd = el('input', { id: 'dbg-command', type: 'text', attrs: { placeholder: 'debugger command, e.g. print blocks.0.hook_resid_post[-1, :8]', 'aria-label': 'debugger command', spellcheck: 'false', autocomplete: 'off' } });
  const send = el('button', { id: 'dbg-send', type: 'submit' }, 'Send');
  const form = el('form', { id: 'dbg-command-form', class: 'cmdline' }, el('span', { class: 'prompt-sign mono' }, '(loupe)'), cmd, send);
  const output = el('pre', { id: 'dbg-output', class: 'log', attrs: { 'aria-live': 'polite', tabindex: 0 } });
  const nextTok = el('div', { id: 'dbg-next-token' }, '–');
  const watches = el('div', { id: 'dbg-watches', class: 'small-list' });
  const watchInput = el('input', { id: 'dbg-watch-input', type: 'text', attrs: { placeholder: 'HOOK[SLICE]', 'aria-label': 'expression to display', spellcheck: 'false' } });
  const watchAdd = el('button', { id: 'dbg-watch-add', type: 'button' }, 'Add watch');
  const bps = el('div', { id: 'dbg-breakpoints', class: 'small-list' });
  const edits = el('div', { id: 'dbg-edits', class: 'small-list' });
  const abL = el('input', { id: 'dbg-ablate-layer', type: 'number', attrs: { min: 0, value: 0, 'aria-label': 'layer' } });
  const abH = el('input', { id: 'dbg-ablate-head', type: 'number', attrs: { min: 0, value: 0, 'aria-label': 'head' } });
  const abGo = el('button', { id: 'dbg-ablate', type: 'button' }, 'Ablate head');
  const ekind = el('select', { id: 'dbg-edit-kind', attrs: { 'aria-label': 'edit kind' } });
  fillSelect(ekind, [
    ['zero', 'zero'],
    ['scale', 'scale'],
  ]);
  const etarget = el('input', { id: 'dbg-edit-target', type: 'text', attrs: { placeholder: 'HOOK[SLICE]', 'aria-label': 'hook and slice to edit', spellcheck: 'false', list: 'dbg-hooks' } });
  const efactor = el('input', { id: 'dbg-edit-factor', type: 'number', attrs: { step: 0.1, value: 0.5, 'aria-label': 'factor' } });
  const eGo = el('button', { id: 'dbg-edit-apply', type: 'button' }, 'Apply edit');
  const undo = el('button', { id: 'dbg-undo', type: 'button' }, 'Undo last edit');
  const preview = el('input', { id: 'dbg-preview-only', type: 'checkbox' });
  const effect = el('div', { id: 'dbg-effect', class: 'effect' });
  const hookList = el('datalist', { id: 'dbg-hooks' });
  for (const h of ctx.info?.hooks ?? []) hookList.appendChild(el('option', { attrs: { value: h } }));

  const controls = [bRun, bStep, bNext, bCont, bFinish];
  root.append(
    el('div', { class: 'toolbar' }, start, ...controls, refresh),
    where,
    el(
      'div',
      { class: 'split dbg' },
      el(
        'div',
        {},
        el('div', { class: 'toolbar' }, el('h3', {}, 'Program'), el('label', { class: 'field' }, el('span', { class: 'field-label' }, 'condition for new breakpoints'), cond)),
        listing,
        form,
        output,
      ),
      el(
        'div',
        { class: 'panels' },
        el('section', { class: 'panel' }, el('h3', {}, 'Next token'), nextTok),
        el('section', { class: 'panel' }, el('h3', {}, 'Breakpoints'), bps),
        el('section', { class: 'panel' }, el('h3', {}, 'Watches'), watches, el('div', { class: 'row' }, watchInput, watchAdd)),
        el(
          'section',
          { class: 'panel' },
          el('h3', {}, 'Edits'),
          edits,
          el('div', { class: 'row' }, el('span', {}, 'layer'), abL, el('span', {}, 'head'), abH, abGo),
          el('div', { class: 'row' }, ekind, etarget, efactor, eGo),
          el('div', { class: 'row' }, undo, el('label', { class: 'check' }, preview, ' preview only (do not apply)')),
          el('h4', {}, 'Effect on the next token'),
          effect,
        ),
      ),
    ),
    hookList,
  );

  let state: DebugState | null = null;
  let synced = false;

  const log = (command: string, text: string, isError = false) => {
    const line = el('span', { class: isError ? 'err' : '' }, `(loupe) ${command}\n${text}${text.endsWith('\n') || !text ? '' : '\n'}`);
    output.appendChild(line);
    while (output.childNodes.length > 300) output.removeChild(output.firstChild!);
    output.scrollTop = output.scrollHeight;
  };

  const render = () => {
    const s = state;
    const active = !!s?.active;
    for (const b of controls) b.disabled = !active;
    where.textContent = s ? whereLine(s) : 'no debugger session';
    clear(listing);
    if (!s || !active) {
      listing.appendChild(emptyNote('Start a session to see the program.'));
    } else {
      const rows = listingModel(s);
      const tbl = el('table', { class: 'data listing-table' });
      tbl.appendChild(el('thead', {}, el('tr', {}, ...['', 'op', 'label', 'kind', 'hook', 'shape'].map((h) => el('th', {}, h)))));
      const body = el('tbody');
      for (const r of rows) {
        const gutter = el(
          'button',
          {
            type: 'button',
            class: `dbg-gutter ${r.breakpoint ? 'on' : ''}`,
            attrs: { 'aria-label': r.hook ? `${r.breakpoint ? 'remove' : 'set'} breakpoint on ${r.hook}` : 'no hook', 'aria-pressed': String(r.breakpoint), disabled: !r.hook },
            title: r.hook ? (r.breakpoint ? `delete breakpoint on ${r.hook}` : `break ${r.hook}`) : 'this op has no hook',
          },
          r.breakpoint ? '●' : '',
        );
        gutter.addEventListener('click', () => {
          const c = toggleBreakpointCommand(r, cond.value);
          if (r.breakpoint && r.breakpointIds.length === 0) {
            ctx.status.error(new Error(`the breakpoint on ${r.hook} is set by a pattern: delete it in the breakpoints panel`));
            return;
          }
          if (c) void command(c);
        });
        const tr = el(
          'tr',
          { class: `dbg-op ${r.current ? 'current' : ''} ${r.next ? 'next' : ''} ${r.breakpoint ? 'bp' : ''}`, data: { op: r.op } },
          el('td', { class: 'gutter-cell' }, gutter),
          el('td', { class: 'num' }, r.current ? `▶ ${r.op}` : String(r.op)),
          el('td', { class: 'mono' }, r.label),
          el('td', { class: 'dim' }, r.kind),
          el('td', { class: 'mono' }, r.hook ?? ''),
          el('td', { class: 'dim mono' }, r.shape ? `[${r.shape.join(', ')}]` : ''),
        );
        if (r.current) tr.setAttribute('aria-current', 'step');
        body.appendChild(tr);
      }
      tbl.appendChild(body);
      listing.appendChild(tbl);
      const fi = focusIndex(rows);
      if (fi >= 0) {
        const tr = body.children[fi] as HTMLElement | undefined;
        if (tr && typeof tr.scrollIntoView === 'function' && !root.hidden) tr.scrollIntoView({ block: 'nearest' });
      }
    }

    clear(nextTok);
    if (s?.next_token) nextTok.append(tokenText(s.next_token.text), ` id ${s.next_token.id} · p ${fmtProb(s.next_token.p)}`);
    else nextTok.textContent = '–';

    clear(bps);
    const bl = s?.breakpoints ?? [];
    if (bl.length === 0) bps.appendChild(emptyNote('none: click the gutter of a row'));
    for (const b of bl) {
      const del = el('button', { type: 'button', class: 'small dbg-bp-delete', data: { id: b.id }, attrs: { 'aria-label': `delete breakpoint ${b.id}` } }, 'Delete');
      del.addEventListener('click', () => void command(`delete ${b.id}`));
      bps.appendChild(el('div', { class: 'item' }, el('span', { class: 'mono' }, `${b.id} ${b.location}${b.condition ? ` if ${b.condition}` : ''}`), el('span', { class: 'dim' }, ` hits ${b.hits}${b.enabled ? '' : ', disabled'}${b.temporary ? ', temporary' : ''} `), del));
    }

    clear(watches);
    const wl = s?.watches ?? [];
    if (wl.length === 0) watches.appendChild(emptyNote('none'));
    for (const w of wl) {
      const rm = el('button', { type: 'button', class: 'small dbg-watch-remove', data: { id: w.id }, attrs: { 'aria-label': `remove watch ${w.id}` } }, 'Remove');
      rm.addEventListener('click', () => void command(`undisplay ${w.id}`));
      watches.appendChild(el('div', { class: 'item' }, el('span', { class: 'mono' }, `${w.id} ${w.expr} `), rm));
    }

    clear(edits);
    const el_ = s?.edits ?? [];
    if (el_.length === 0) edits.appendChild(emptyNote('none'));
    for (const e of el_) edits.appendChild(el('div', { class: 'item mono' }, `${e.id} ${e.kind ? `[${e.kind}] ` : ''}${e.text ?? ''}`));
  };

  const setState = (s: DebugState | null | undefined) => {
    if (s) state = s;
    render();
  };

  async function command(c: string): Promise<void> {
    const line = c.trim();
    if (!line) return;
    try {
      const r = await ctx.api.debug(line);
      log(line, r.text);
      setState(r.state);
      ctx.status.info(`debugger: ${line}`);
    } catch (e) {
      log(line, e instanceof Error ? e.message : String(e), true);
      ctx.status.error(e, line);
    }
  }

  const renderEffect = (edit: string, r: EffectReply) => {
    clear(effect);
    const changed = r.before[0]?.id !== r.after[0]?.id;
    effect.append(
      el('p', { class: changed ? 'warn' : 'dim' }, `edit ${edit}: top-1 ${changed ? 'changes' : 'unchanged'}`),
      el('div', { class: 'side-by-side' }, el('div', { id: 'dbg-effect-before' }, el('h4', {}, 'before'), topTable(r.before)), el('div', { id: 'dbg-effect-after' }, el('h4', {}, 'after'), topTable(r.after))),
    );
  };

  const applyEdit = async (edit: string | null, button: HTMLButtonElement) => {
    if (!edit) {
      ctx.status.error(new Error('the edit is incomplete'));
      return;
    }
    const r = await ctx.guard(`effect of ${edit}`, () => ctx.api.debugEffect(edit), button);
    if (r) renderEffect(edit, r);
    if (!preview.checked) await command(`edit ${edit}`);
  };

  start.addEventListener('click', async () => {
    const p = needPrompt(ctx);
    if (p === null) return;
    const r = await ctx.guard('debugger start', () => ctx.api.debugStart(p), start);
    if (!r) return;
    clear(output);
    clear(effect);
    log('start', `session on ${JSON.stringify(p)}`);
    setState(r.state);
  });
  const wire = (b: HTMLButtonElement, c: string) => b.addEventListener('click', () => void command(c));
  wire(bRun, 'run');
  wire(bStep, 'step');
  wire(bNext, 'next');
  wire(bCont, 'continue');
  wire(bFinish, 'finish');
  refresh.addEventListener('click', async () => {
    const r = await ctx.guard('debugger state', () => ctx.api.debugState(), refresh);
    if (r) setState(r.state);
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const c = cmd.value;
    cmd.value = '';
    void command(c);
  });
  watchAdd.addEventListener('click', () => {
    const x = watchInput.value.trim();
    if (!x) return;
    watchInput.value = '';
    void command(`display ${x}`);
  });
  abGo.addEventListener('click', () => void applyEdit(ablateEdit(abL.value, abH.value), abGo));
  eGo.addEventListener('click', () => void applyEdit(hookEdit(ekind.value as 'zero' | 'scale', etarget.value, efactor.value), eGo));
  ekind.addEventListener('change', () => (efactor.disabled = ekind.value !== 'scale'));
  efactor.disabled = true;
  undo.addEventListener('click', () => void command('undo'));
  render();

  return {
    id: 'debug',
    title: 'Debugger',
    root,
    show: () => {
      if (synced) return;
      synced = true;
      ctx.api.debugState().then(
        (r) => setState(r.state),
        (e) => ctx.status.error(e, 'debugger state'),
      );
    },
  };
}
