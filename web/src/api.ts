// Typed client of the loupe serve API: every request carries the session token, every
// non-2xx reply becomes an ApiError with the server's message (and the busy task on 409).

import type {
  ActivationsReply,
  AttentionReply,
  DebugReply,
  DebugState,
  DiffReply,
  EffectReply,
  ExploreReply,
  GenerateReply,
  Info,
  LensReply,
  ProfileReply,
  RunReply,
} from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly busy: string | null;

  constructor(status: number, message: string, busy: string | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.busy = busy;
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** The token of the page's URL (`?token=...`), or '' when there is none. */
export function tokenFromSearch(search: string): string {
  return new URLSearchParams(search).get('token') ?? '';
}

/** The URL of the event stream (EventSource cannot send headers: the token goes in the query). */
export function eventsUrl(token: string, base = ''): string {
  return `${base}/api/events?token=${encodeURIComponent(token)}`;
}

/** Where the data comes from: the prompt text or a data file of info.data (by index). */
export type Source = { prompt: string } | { data: number };

export interface ApiHooks {
  /** Called with +1 when a request starts and -1 when it ends. */
  onActivity?: (delta: number) => void;
}

async function errorOf(res: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* no body */
  }
  let message = '';
  let busy: string | null = null;
  if (text) {
    try {
      const j: unknown = JSON.parse(text);
      if (j && typeof j === 'object') {
        const o = j as Record<string, unknown>;
        if (typeof o.error === 'string') message = o.error;
        if (typeof o.busy === 'string') busy = o.busy;
      }
    } catch {
      message = text.trim().slice(0, 500);
    }
  }
  if (!message) message = `${res.status} ${res.statusText || 'error'}`.trim();
  return new ApiError(res.status, message, busy);
}

export class Api {
  readonly token: string;
  private readonly fetchImpl: FetchLike;
  private readonly base: string;
  private readonly hooks: ApiHooks;

  constructor(token: string, fetchImpl?: FetchLike, base = '', hooks: ApiHooks = {}) {
    this.token = token;
    this.fetchImpl = fetchImpl ?? ((input, init) => fetch(input, init));
    this.base = base;
    this.hooks = hooks;
  }

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { 'X-Loupe-Token': this.token, Accept: 'application/json' };
    const init: RequestInit = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    this.hooks.onActivity?.(1);
    try {
      let res: Response;
      try {
        res = await this.fetchImpl(this.base + path, init);
      } catch (e) {
        throw new ApiError(0, `cannot reach the server (${e instanceof Error ? e.message : String(e)})`);
      }
      if (!res.ok) throw await errorOf(res);
      const text = await res.text();
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new ApiError(res.status, `the server sent a reply that is not JSON: ${text.slice(0, 200)}`);
      }
    } finally {
      this.hooks.onActivity?.(-1);
    }
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  info(): Promise<Info> {
    return this.get('/api/info');
  }
  run(prompt: string, top_k = 5): Promise<RunReply> {
    return this.post('/api/run', { prompt, top_k });
  }
  generate(p: {
    prompt: string;
    n_predict: number;
    temperature: number;
    top_k: number;
    top_p: number;
    seed: number;
  }): Promise<GenerateReply> {
    return this.post('/api/generate', p);
  }
  lens(prompt: string, top_k = 5): Promise<LensReply> {
    return this.post('/api/lens', { prompt, top_k });
  }
  attention(prompt: string): Promise<AttentionReply> {
    return this.post('/api/attention', { prompt });
  }
  activations(src: Source): Promise<ActivationsReply> {
    return this.post('/api/activations', src);
  }
  diff(src: Source): Promise<DiffReply> {
    return this.post('/api/diff', src);
  }
  profile(prompt: string, n_gen = 8): Promise<ProfileReply> {
    return this.post('/api/profile', { prompt, n_gen });
  }
  explore(data: number): Promise<ExploreReply> {
    return this.post('/api/explore', { data });
  }
  debugStart(prompt: string): Promise<{ state: DebugState }> {
    return this.post('/api/debug/start', { prompt });
  }
  debug(command: string): Promise<DebugReply> {
    return this.post('/api/debug', { command });
  }
  debugState(): Promise<{ state: DebugState }> {
    return this.get('/api/debug/state');
  }
  debugEffect(edit: string): Promise<EffectReply> {
    return this.post('/api/debug/effect', { edit });
  }
  cancel(): Promise<{ cancelled: boolean }> {
    return this.post('/api/cancel', {});
  }
}
