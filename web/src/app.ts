// The page's shared context: API client, server info, the prompt, status and progress.

import { Api, ApiError, eventsUrl } from './api';
import { byId, clear, el } from './dom';
import { fmtNum } from './format';
import type { Info, ProgressEvent } from './types';

export interface View {
  id: string;
  title: string;
  root: HTMLElement;
  /** Called when the tab is shown. */
  show?(): void;
  /** The view's main action (Ctrl+Enter in the prompt). */
  run?(): void;
}

export class Status {
  constructor(
    private readonly node: HTMLElement,
    private readonly onCancel: () => void,
  ) {}

  info(message: string): void {
    this.node.classList.remove('error', 'busy');
    this.node.textContent = message;
  }

  error(e: unknown, context = ''): void {
    this.node.classList.remove('busy');
    this.node.classList.add('error');
    clear(this.node);
    const msg = e instanceof Error ? e.message : String(e);
    const prefix = context ? `${context}: ` : '';
    if (e instanceof ApiError && e.busy) {
      this.node.classList.add('busy');
      this.node.append(`${prefix}the server is busy with '${e.busy}'. `);
      this.node.appendChild(
        el('button', { type: 'button', class: 'link', id: 'status-cancel', on: { click: () => this.onCancel() } }, `Cancel '${e.busy}'`),
      );
      return;
    }
    const code = e instanceof ApiError && e.status ? ` (HTTP ${e.status})` : '';
    this.node.textContent = `${prefix}${msg}${code}`;
  }
}

export class Progress {
  private inflight = 0;
  private serverTask: ProgressEvent | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private visible = false;

  constructor(
    private readonly box: HTMLElement,
    private readonly bar: HTMLProgressElement,
    private readonly text: HTMLElement,
  ) {}

  activity(delta: number): void {
    this.inflight = Math.max(0, this.inflight + delta);
    this.update();
  }

  event(p: ProgressEvent | null): void {
    this.serverTask = p;
    this.update();
  }

  private update(): void {
    const active = this.inflight > 0 || this.serverTask !== null;
    if (!active) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.setVisible(false);
      return;
    }
    if (this.serverTask) this.setVisible(true);
    else if (!this.visible && !this.timer) {
      // Quick requests finish before the bar would flash.
      this.timer = setTimeout(() => {
        this.timer = null;
        if (this.inflight > 0 || this.serverTask) this.setVisible(true);
      }, 250);
    }
    const p = this.serverTask;
    if (p && p.total > 0) {
      this.bar.max = p.total;
      this.bar.value = Math.min(p.done, p.total);
      this.text.textContent = `${p.task}: ${p.done} / ${p.total} ${p.unit} (${fmtNum(p.elapsed_s, 2)} s)`;
    } else {
      this.bar.removeAttribute('value');
      this.text.textContent = p
        ? `${p.task}: ${p.done ? `${p.done} ${p.unit}` : 'running'} (${fmtNum(p.elapsed_s, 2)} s)`
        : 'working…';
    }
  }

  private setVisible(v: boolean): void {
    this.visible = v;
    this.box.hidden = !v;
  }
}

export interface AppContext {
  api: Api;
  info: Info | null;
  status: Status;
  progress: Progress;
  prompt(): string;
  /** Runs an action, reporting its errors in #status; returns undefined on error. */
  guard<T>(what: string, f: () => Promise<T>, button?: HTMLButtonElement | null): Promise<T | undefined>;
  cancel(): Promise<void>;
}

export function createApp(token: string): AppContext {
  const progress = new Progress(byId('progress'), byId<HTMLProgressElement>('progress-bar'), byId('progress-text'));
  const api = new Api(token, undefined, '', { onActivity: (d) => progress.activity(d) });
  const status = new Status(byId('status'), () => void app.cancel());
  const app: AppContext = {
    api,
    info: null,
    status,
    progress,
    prompt: () => byId<HTMLTextAreaElement>('prompt').value,
    async guard<T>(what: string, f: () => Promise<T>, button?: HTMLButtonElement | null) {
      if (button) {
        button.disabled = true;
        button.classList.add('running');
      }
      status.info(`${what}…`);
      const t0 = performance.now();
      try {
        const r = await f();
        status.info(`${what}: done in ${fmtNum((performance.now() - t0) / 1000, 2)} s`);
        return r;
      } catch (e) {
        status.error(e, what);
        return undefined;
      } finally {
        if (button) {
          button.disabled = false;
          button.classList.remove('running');
        }
      }
    },
    async cancel() {
      try {
        const r = await api.cancel();
        status.info(r.cancelled ? 'cancel requested' : 'nothing to cancel');
      } catch (e) {
        status.error(e, 'cancel');
      }
    },
  };
  return app;
}

/** Follows the server's progress events; reconnects on its own (EventSource does). */
export function listenEvents(token: string, progress: Progress): EventSource | null {
  if (typeof EventSource === 'undefined') return null;
  const es = new EventSource(eventsUrl(token));
  es.addEventListener('progress', (e) => {
    try {
      progress.event(JSON.parse((e as MessageEvent<string>).data) as ProgressEvent);
    } catch {
      /* a malformed event: ignore */
    }
  });
  es.addEventListener('idle', () => progress.event(null));
  return es;
}

/** Whether a prompt is present; reports in #status when not. */
export function needPrompt(ctx: AppContext): string | null {
  const p = ctx.prompt();
  if (!p.trim()) {
    ctx.status.error(new Error('type a prompt first'));
    byId('prompt').focus();
    return null;
  }
  return p;
}

/** Options for a "prompt or data file" <select>: 'prompt', then 'data:I' for info.data. */
export function sourceOptions(info: Info | null): [string, string][] {
  const out: [string, string][] = [['prompt', 'the prompt']];
  (info?.data ?? []).forEach((d, i) => out.push([`data:${i}`, `data: ${d}`]));
  return out;
}

export function sourceOf(value: string, prompt: string): { prompt: string } | { data: number } {
  const m = /^data:(\d+)$/.exec(value);
  return m ? { data: Number(m[1]) } : { prompt };
}
