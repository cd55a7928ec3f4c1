import './style.css';
import { tokenFromSearch } from './api';
import { createApp, listenEvents, type AppContext, type View } from './app';
import { byId, clear, el } from './dom';
import { basename } from './format';
import type { Info } from './types';
import { createPromptView } from './views/prompt';
import { createLensView } from './views/lens';
import { createAttentionView } from './views/attention';
import { createActivationsView } from './views/activations';
import { createDebugView } from './views/debug';
import { createDiffView } from './views/diff';
import { createProfileView } from './views/profile';
import { createExploreView } from './views/explore';

function showInfo(info: Info): void {
  const box = byId('info');
  clear(box);
  const item = (k: string, v: string, title?: string) =>
    el('span', { class: 'info-item', title: title ?? `${k}: ${v}` }, el('span', { class: 'k' }, k), ' ', el('span', { class: 'v' }, v));
  box.append(
    item('model', basename(info.model), info.model),
    item('reference', info.reference ? basename(info.reference) : 'none', info.reference ?? 'no reference model'),
    item('arch', info.arch),
    item('layers', String(info.n_layers)),
    item('heads', String(info.n_heads)),
    item('d_model', String(info.d_model)),
    item('vocab', String(info.d_vocab)),
    item('ctx', String(info.n_ctx)),
    item('numerics', info.numerics),
  );
}

function setupTabs(views: View[], ctx: AppContext): void {
  const nav = byId('tabs');
  const buttons = new Map<string, HTMLButtonElement>();
  const select = (id: string, focus = false) => {
    const v = views.find((x) => x.id === id) ?? views[0];
    for (const w of views) {
      const b = buttons.get(w.id)!;
      const on = w === v;
      b.setAttribute('aria-selected', String(on));
      b.tabIndex = on ? 0 : -1;
      w.root.hidden = !on;
    }
    if (focus) buttons.get(v.id)?.focus();
    if (location.hash !== `#${v.id}`) history.replaceState(null, '', `${location.pathname}${location.search}#${v.id}`);
    v.show?.();
    current = v;
  };
  let current = views[0];
  for (const v of views) {
    const b = el(
      'button',
      {
        id: `tab-${v.id}`,
        type: 'button',
        class: 'tab',
        attrs: { role: 'tab', 'aria-controls': `view-${v.id}`, 'aria-selected': 'false' },
        on: { click: () => select(v.id) },
      },
      v.title,
    );
    if (v.id === 'diff' && !ctx.info?.reference) {
      b.classList.add('muted');
      b.title = 'no reference model (start loupe serve with --reference MODEL)';
    }
    buttons.set(v.id, b);
    nav.appendChild(b);
  }
  nav.addEventListener('keydown', (e) => {
    const i = views.indexOf(current);
    let j = -1;
    if (e.key === 'ArrowRight') j = (i + 1) % views.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + views.length) % views.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = views.length - 1;
    if (j >= 0) {
      e.preventDefault();
      select(views[j].id, true);
    }
  });
  window.addEventListener('hashchange', () => select(location.hash.slice(1)));
  byId('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      current.run?.();
    }
  });
  select(location.hash.slice(1) || 'prompt');
}

async function main(): Promise<void> {
  const token = tokenFromSearch(location.search);
  const ctx = createApp(token);
  byId('cancel').addEventListener('click', () => void ctx.cancel());
  if (!token) ctx.status.error(new Error('no token in the URL: open the address that loupe serve printed (…/?token=…)'));
  try {
    ctx.info = await ctx.api.info();
    showInfo(ctx.info);
    if (token) ctx.status.info('ready');
  } catch (e) {
    byId('info').textContent = 'not connected';
    ctx.status.error(e, 'server info');
  }
  listenEvents(token, ctx.progress);
  const views: View[] = [
    createPromptView(ctx),
    createLensView(ctx),
    createAttentionView(ctx),
    createActivationsView(ctx),
    createDebugView(ctx),
    createDiffView(ctx),
    createProfileView(ctx),
    createExploreView(ctx),
  ];
  setupTabs(views, ctx);
}

void main();
