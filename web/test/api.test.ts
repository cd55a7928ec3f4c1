import { describe, expect, it } from 'vitest';
import { Api, ApiError, eventsUrl, tokenFromSearch, type FetchLike } from '../src/api';

interface Call {
  url: string;
  init: RequestInit;
}

function fakeFetch(status: number, body: string, calls: Call[] = []): FetchLike {
  return async (url, init) => {
    calls.push({ url, init: init ?? {} });
    return new Response(body, { status, headers: { 'Content-Type': 'application/json' } });
  };
}

describe('api client', () => {
  it('reads the token from the page URL', () => {
    expect(tokenFromSearch('?token=abc123')).toBe('abc123');
    expect(tokenFromSearch('?x=1&token=a%2Bb')).toBe('a+b');
    expect(tokenFromSearch('')).toBe('');
  });

  it('puts the token in the event stream URL', () => {
    expect(eventsUrl('a b')).toBe('/api/events?token=a%20b');
  });

  it('sends the token header on GET and POST, and the JSON body', async () => {
    const calls: Call[] = [];
    const api = new Api('T0K', fakeFetch(200, '{"ok":1}', calls));
    await api.info();
    await api.run('Once upon', 7);
    expect(calls).toHaveLength(2);
    for (const c of calls) expect((c.init.headers as Record<string, string>)['X-Loupe-Token']).toBe('T0K');
    expect(calls[0].url).toBe('/api/info');
    expect(calls[0].init.method).toBe('GET');
    expect(calls[0].init.body).toBeUndefined();
    expect(calls[1].url).toBe('/api/run');
    expect(calls[1].init.method).toBe('POST');
    expect(JSON.parse(calls[1].init.body as string)).toEqual({ prompt: 'Once upon', top_k: 7 });
    expect((calls[1].init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
  });

  it('sends prompt or data sources as given', async () => {
    const calls: Call[] = [];
    const api = new Api('t', fakeFetch(200, '{}', calls));
    await api.activations({ data: 2 });
    await api.diff({ prompt: 'x' });
    await api.debug('break blocks.1.hook_resid_post');
    await api.debugEffect('ablate 2 3');
    expect(calls.map((c) => [c.url, JSON.parse(c.init.body as string)])).toEqual([
      ['/api/activations', { data: 2 }],
      ['/api/diff', { prompt: 'x' }],
      ['/api/debug', { command: 'break blocks.1.hook_resid_post' }],
      ['/api/debug/effect', { edit: 'ablate 2 3' }],
    ]);
  });

  it('turns an error reply into an ApiError with the server message', async () => {
    const api = new Api('t', fakeFetch(422, '{"error":"field \'prompt\' is missing"}'));
    const e = await api.run('').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(422);
    expect((e as ApiError).message).toBe("field 'prompt' is missing");
    expect((e as ApiError).busy).toBeNull();
  });

  it('reports the busy task of a 409', async () => {
    const api = new Api('t', fakeFetch(409, '{"error":"busy: the model is running \'diff\'","busy":"diff"}'));
    const e = (await api.lens('x').catch((x: unknown) => x)) as ApiError;
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(409);
    expect(e.busy).toBe('diff');
    expect(e.message).toContain('busy');
  });

  it('copes with non-JSON error bodies and network failures', async () => {
    const plain = new Api('t', async () => new Response('403: a token is required', { status: 403 }));
    const e1 = (await plain.info().catch((x: unknown) => x)) as ApiError;
    expect(e1.status).toBe(403);
    expect(e1.message).toBe('403: a token is required');
    const empty = new Api('t', async () => new Response('', { status: 500, statusText: 'Internal Server Error' }));
    const e2 = (await empty.info().catch((x: unknown) => x)) as ApiError;
    expect(e2.message).toContain('500');
    const down = new Api('t', async () => {
      throw new TypeError('Failed to fetch');
    });
    const e3 = (await down.info().catch((x: unknown) => x)) as ApiError;
    expect(e3).toBeInstanceOf(ApiError);
    expect(e3.status).toBe(0);
    expect(e3.message).toContain('Failed to fetch');
  });

  it('rejects a 2xx reply that is not JSON', async () => {
    const api = new Api('t', async () => new Response('<html>', { status: 200 }));
    await expect(api.info()).rejects.toBeInstanceOf(ApiError);
  });

  it('counts requests in flight', async () => {
    const seen: number[] = [];
    let n = 0;
    const api = new Api('t', fakeFetch(500, '{"error":"x"}'), '', {
      onActivity: (d) => {
        n += d;
        seen.push(n);
      },
    });
    await api.info().catch(() => undefined);
    expect(seen).toEqual([1, 0]);
  });
});
