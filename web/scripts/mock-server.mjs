// A stand-in for `loupe serve` built from the fixtures, for trying the page without the C++
// server: `npm run build && node scripts/mock-server.mjs [DIST] [PORT]`, then open
// http://127.0.0.1:PORT/?token=test. Same headers (CSP) and auth rule as the real server.
import { createServer } from 'node:http';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { join, extname, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = process.argv[2] || process.env.LOUPE_WEB_OUT || join(here, '..', 'dist');
const port = Number(process.argv[3] || 8765);
const TOKEN = 'test';
const fx = (n) => JSON.parse(readFileSync(join(here, '..', 'fixtures', n), 'utf8'));
const CSP = "default-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'";
const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };

const texts = ['<s>', ' Once', ' upon', ' a', ' time'];
const top = (p0) => [
  { id: 432, text: ',', p: p0 },
  { id: 383, text: ' there', p: (1 - p0) / 2 },
  { id: 322, text: '\n', p: (1 - p0) / 4 },
];
function patterns(nl, nh, n) {
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  return Array.from({ length: nl }, () =>
    Array.from({ length: nh }, () =>
      Array.from({ length: n }, (_, q) => {
        const w = Array.from({ length: n }, (_, k) => (k <= q ? Math.exp(3 * rnd()) : 0));
        const s = w.reduce((a, b) => a + b, 0);
        return w.map((x) => x / s);
      }),
    ),
  );
}
const dbg = fx('debugger_replies.json');
let debugActive = false;
let bps = [];
const state = () => ({
  active: debugActive,
  prompt: 'Once upon a time',
  where: dbg.where.json,
  listing: dbg['list all'].json.ops.map((o) => ({ ...o, breakpoint: bps.some((b) => b.location === o.hook) })),
  breakpoints: bps,
  edits: [],
  watches: [],
  next_token: { id: 432, text: ',', p: 0.9657 },
});

const api = {
  'GET /api/info': () => ({
    model: '/models/stories260K-q8_0.gguf', reference: '/models/stories260K-f32.gguf', arch: 'llama', n_layers: 5, n_heads: 8,
    d_model: 64, d_vocab: 512, n_ctx: 512, numerics: 'exact', hooks: dbg['list all'].json.ops.map((o) => o.hook).filter(Boolean),
    data: ['/tmp/d.jsonl'], store: false,
  }),
  'POST /api/run': () => ({
    tokens: texts.map((t, i) => ({ id: i, text: t, loss: i ? i * 1.3 : null, entropy: i ? 1.1 : null, rank: i ? i - 1 : null, top: i ? top(0.6) : [] })),
    next: top(0.96),
    mean_loss: 3.25,
  }),
  'POST /api/generate': () => ({ text: 'Once upon a time, there was', tokens: [...texts, ',', ' there', ' was'].map((t, i) => ({ id: i, text: t })), n_prompt: 5, stop: 'length' }),
  'POST /api/lens': () => fx('lens.json'),
  'POST /api/attention': () => ({ ...fx('attention_cli.json'), token_texts: texts, n_layers: 5, n_heads: 8, patterns: patterns(5, 8, 5) }),
  'POST /api/activations': () => fx('activations.json'),
  'POST /api/diff': () => fx('diff.json'),
  'POST /api/profile': () => fx('profile.json'),
  'POST /api/explore': () => fx('explore.json'),
  'POST /api/debug/start': () => ((debugActive = true), { state: state() }),
  'GET /api/debug/state': () => ({ state: state() }),
  'POST /api/debug': (b) => {
    const c = String(b.command || '');
    const m = /^break (\S+)/.exec(c);
    if (m) bps.push({ id: bps.length + 1, location: m[1], condition: null, enabled: true, temporary: false, hits: 0, ignore: 0, commands: [] });
    if (/^delete/.test(c)) bps = [];
    if (c === 'busy') return [409, { error: "busy: the model is running 'diff' (cancel it, or wait)", busy: 'diff' }];
    const r = dbg[c] || { text: `(mock) ${c}\n`, json: {} };
    return { text: r.text, json: r.json, state: state() };
  },
  'POST /api/debug/effect': () => ({ before: top(0.96), after: top(0.4) }),
  'POST /api/cancel': () => ({ cancelled: false }),
};

createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  res.setHeader('Content-Security-Policy', CSP);
  if (url.pathname === '/api/events') {
    if (url.searchParams.get('token') !== TOKEN) return void res.writeHead(403).end();
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
    res.write('event: progress\ndata: {"task":"diff","done":3,"total":10,"unit":"documents","elapsed_s":1.2}\n\n');
    setTimeout(() => res.write('event: idle\ndata: {}\n\n'), 500);
    return;
  }
  if (url.pathname.startsWith('/api/')) {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const send = (code, obj) => res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(obj));
      if (req.headers['x-loupe-token'] !== TOKEN) return send(403, { error: '403: a token is required' });
      const f = api[`${req.method} ${url.pathname}`];
      if (!f) return send(404, { error: `no route ${url.pathname}` });
      const r = f(body ? JSON.parse(body) : {});
      Array.isArray(r) ? send(r[0], r[1]) : send(200, r);
    });
    return;
  }
  let p = join(dist, url.pathname === '/' ? 'index.html' : url.pathname);
  if (!p.startsWith(dist) || !existsSync(p) || statSync(p).isDirectory()) p = join(dist, 'index.html');
  res.writeHead(200, { 'Content-Type': types[extname(p)] || 'application/octet-stream' }).end(readFileSync(p));
}).listen(port, '127.0.0.1', () => console.log(`mock loupe serve: http://127.0.0.1:${port}/?token=${TOKEN}`));
