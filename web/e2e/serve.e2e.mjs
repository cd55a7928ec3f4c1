// End-to-end: a real `loupe serve` on stories260K (Q8_0, with the F32 file as the reference),
// driven in Debian's chromium by playwright-core. Loads the page, runs a prompt, hovers a token,
// checks the lens grid and the attention scores against the CLI's JSON, sets a breakpoint and
// steps, ablates a head and sees the output change, runs the diff, profile, activations and
// explore views; saves a screenshot of each view. Also checks the server's guards from outside
// (403 without the token, no file outside the page, 413, 200 concurrent bad requests).
//
//   LOUPE_BINARY=build/release/loupe LOUPE_SHARED_DIR=../shared node web/e2e/serve.e2e.mjs [SHOTS_DIR]
// (ctest runs it as web.e2e, saving the screenshots in build/<preset>/e2e-shots)
//
// Exit 0 when every check passes; each failure is printed. CHROMIUM overrides /usr/bin/chromium.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const loupe = resolve(process.env.LOUPE_BINARY ?? 'build/release/loupe');
const shared = resolve(process.env.LOUPE_SHARED_DIR ?? process.env.LOUPE_DEFAULT_SHARED_DIR ?? '../shared');
const shots = resolve(process.argv[2] ?? 'build/release/e2e-shots');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const q8 = join(shared, 'models/stories260K-gguf/stories260K-q8_0.gguf');
const f32 = join(shared, 'models/stories260K-gguf/stories260K-f32.gguf');
const prompt = 'Once upon a time, there was a little girl named Lily. She liked to play';

let failures = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
};
const near = (a, b, tol) => Math.abs(a - b) <= tol;

mkdirSync(shots, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'loupe-e2e-'));
const corpus = join(work, 'corpus.jsonl');
writeFileSync(
  corpus,
  ['Once upon a time there was a cat.', 'The dog ran to the park.', 'Once upon a time there was a cat.', 'Tom had a red ball.']
    .map((t) => JSON.stringify({ text: t }))
    .join('\n') + '\n',
);
const cli = (args) => JSON.parse(execFileSync(loupe, args, { encoding: 'utf8', maxBuffer: 1 << 28 }));

// Start the server; its first stdout line is the URL.
const server = spawn(loupe, ['serve', q8, '--reference', f32, '--data', corpus, '-t', '2'], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
let serverErr = '';
server.stderr.on('data', (d) => (serverErr += d));
const url = await new Promise((res, rej) => {
  let out = '';
  const timer = setTimeout(() => rej(new Error(`no URL from loupe serve; stderr: ${serverErr}`)), 30000);
  server.stdout.on('data', (d) => {
    out += d;
    const line = out.split('\n')[0];
    if (out.includes('\n')) {
      clearTimeout(timer);
      res(line.trim());
    }
  });
  server.on('exit', (code) => rej(new Error(`loupe serve exited ${code}: ${serverErr}`)));
});
const base = new URL(url);
const token = base.searchParams.get('token');
const origin = `${base.protocol}//${base.host}`;
console.log(`server: ${url}`);

let browser;
try {
  // ---- the guards, from outside ----
  check((await fetch(`${origin}/api/info`)).status === 403, 'no token: 403');
  check((await fetch(`${origin}/api/info`, { headers: { 'X-Loupe-Token': 'x' + token.slice(1) } })).status === 403, 'wrong token: 403');
  check((await fetch(`${origin}/api/info`, { headers: { 'X-Loupe-Token': token } })).status === 200, 'token header: 200');
  for (const p of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '//etc/passwd', '/assets/../../etc/passwd']) {
    const r = await fetch(`${origin}${p}?token=${token}`);
    const body = await r.text();
    check(r.status === 404 || r.status === 400, `${p}: ${r.status}, not a file outside the page`);
    check(!body.includes('root:'), `${p}: no /etc/passwd content`);
  }
  const big = await fetch(`${origin}/api/run`, {
    method: 'POST',
    headers: { 'X-Loupe-Token': token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: 'a'.repeat(2 << 20) }),
  });
  check(big.status === 413, `a 2 MiB body: ${big.status} (413)`);
  const bad = await fetch(`${origin}/api/run`, { method: 'POST', headers: { 'X-Loupe-Token': token }, body: '{"prompt": 3' });
  check(bad.status === 400 && (await bad.json()).error.includes('not JSON'), 'a broken body: 400 naming the problem');
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      fetch(`${origin}/api/${i % 2 ? 'run' : 'nothing/../../x'}`, { method: 'POST', body: '{' }).then((r) => r.status, () => -1),
    ),
  );
  check(results.every((s) => s === 403), `200 concurrent requests without the token: all 403 (${[...new Set(results)].join(',')})`);
  check((await fetch(`${origin}/api/info`, { headers: { 'X-Loupe-Token': token } })).status === 200, 'still serving after them');

  // ---- the page ----
  // A fresh profile folder for every run (the flags DEVELOPERS.md lists).
  browser = await chromium.launchPersistentContext(join(work, 'chromium'), {
    executablePath: browserPath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  const external = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) external.push(r.url());
  });
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  await page.goto(url);
  await page.waitForFunction(() => document.querySelector('#info')?.textContent?.includes('stories260K'));
  check(true, 'page loaded with the model named');
  await page.fill('#prompt', prompt);

  // Prompt: the token strip, coloured by loss, with a tooltip.
  await page.click('#run');
  await page.waitForSelector('#tokens .tok[data-pos="3"]');
  const apiRun = await (await fetch(`${origin}/api/run`, {
    method: 'POST', headers: { 'X-Loupe-Token': token }, body: JSON.stringify({ prompt }),
  })).json();
  const nTok = await page.locator('#tokens .tok').count();
  const cliTokens = cli(['tokenize', q8, prompt, '--bos', '--json']);
  check(nTok === apiRun.tokens.length && nTok === cliTokens.n_tokens, `token strip: ${nTok} tokens, as loupe tokenize --bos`);
  await page.hover('#tokens .tok[data-pos="5"]');
  await page.waitForSelector('#tooltip', { state: 'visible' });
  const tip = await page.textContent('#tooltip');
  check(tip.includes(apiRun.tokens[5].top[0].text.trim()), 'hover: the tooltip lists the expected tokens');
  // The mean loss equals eval's on the same text (eval scores a document the same way).
  const meanShown = parseFloat((await page.textContent('#mean-loss')).replace(/[^0-9.]/g, ' ').trim().split(/\s+/)[0]);
  check(near(meanShown, apiRun.mean_loss, 0.01), `mean loss shown ${meanShown} = ${apiRun.mean_loss.toFixed(4)}`);
  await page.screenshot({ path: join(shots, 'prompt.png'), fullPage: true });
  await page.click('#generate');
  await page.waitForFunction(() => (document.querySelector('#gen-output')?.textContent ?? '').length > 20);
  check(true, 'generate shows text');

  // Lens: every cell's top-1 token equals `loupe lens --json`.
  await page.click('#tab-lens');
  await page.click('#lens-run');
  await page.waitForSelector('#lens-grid .lens-cell');
  const lensCli = cli(['lens', q8, '-p', prompt, '--json']);
  const titles = await page.$$eval('#lens-grid .lens-cell', (cells) => cells.map((c) => [c.dataset.row, c.dataset.pos, c.getAttribute('title')]));
  let lensOk = titles.length > 0;
  for (const [row, pos, title] of titles) {
    const r = lensCli.rows[Number(row)];
    if (!r) continue;  // the final row (logits) comes last
    const want = JSON.stringify(r.positions[Number(pos)].top[0].text);
    if (!title.includes(`top-1 ${want}`)) lensOk = false;
  }
  check(lensOk, `lens grid: ${titles.length} cells, top-1 tokens equal loupe lens --json`);
  await page.click('#lens-grid .lens-cell[data-row="2"][data-pos="3"]');
  await page.waitForFunction(() => (document.querySelector('#lens-detail')?.textContent ?? '').length > 5);
  await page.screenshot({ path: join(shots, 'lens.png'), fullPage: true });

  // Attention: scores equal `loupe attention --json`; hovering a query draws lines.
  await page.click('#tab-attention');
  await page.click('#att-run');
  await page.waitForSelector('#att-text .att-tok[data-pos="4"]');
  const attCli = cli(['attention', q8, '-p', prompt, '--json']);
  await page.selectOption('#att-layer', '1');
  await page.selectOption('#att-head', '2');
  const line = await page.textContent('#att-selected');
  const h = attCli.heads.find((x) => x.layer === 1 && x.head === 2);
  const sink = parseFloat(line.match(/sink ([0-9.e-]+)/)[1]);
  const prev = parseFloat(line.match(/previous-token ([0-9.e-]+)/)[1]);
  check(near(sink, h.sink, 0.0015 * Math.max(1, h.sink)) && near(prev, h.prev_token, 0.0015 * Math.max(1, h.prev_token)),
    `attention L1 H2 scores shown (${sink}, ${prev}) = CLI (${h.sink.toFixed(4)}, ${h.prev_token.toFixed(4)})`);
  await page.hover('#att-text .att-tok[data-pos="8"]');
  await page.waitForFunction(() => document.querySelectorAll('#att-lines line, #att-lines path').length > 0);
  const nLines = await page.locator('#att-lines line, #att-lines path').count();
  check(nLines > 0, `hover a query token: ${nLines} lines to its keys`);
  await page.screenshot({ path: join(shots, 'attention.png'), fullPage: true });

  // Debugger: a breakpoint from the listing's gutter, run, step.
  await page.click('#tab-debug');
  await page.click('#dbg-start');
  await page.waitForSelector('#dbg-listing tr.dbg-op');
  const ops = await page.$$eval('#dbg-listing tr.dbg-op', (rows) => rows.map((r) => [r.dataset.op, r.textContent]));
  const target = ops.find(([, text]) => text.includes('blocks.1.hook_resid_post'));
  check(Boolean(target), 'listing shows blocks.1.hook_resid_post');
  await page.click(`#dbg-listing tr.dbg-op[data-op="${target[0]}"] .dbg-gutter`);
  await page.waitForFunction(() => (document.querySelector('#dbg-breakpoints')?.textContent ?? '').includes('blocks.1.hook_resid_post'));
  check(true, 'breakpoint set from the gutter');
  await page.click('#dbg-run');
  await page.waitForFunction((op) => document.querySelector(`#dbg-listing tr.dbg-op[data-op="${op}"]`)?.classList.contains('current'), target[0]);
  check(true, `run stops at op ${target[0]} (the breakpoint)`);
  await page.click('#dbg-step');
  const nextOp = String(Number(target[0]) + 1);
  await page.waitForFunction((op) => document.querySelector(`#dbg-listing tr.dbg-op[data-op="${op}"]`)?.classList.contains('current'), nextOp);
  check(true, `step moves to op ${nextOp}`);
  await page.screenshot({ path: join(shots, 'debugger.png'), fullPage: true });

  // Ablate every head of layer 0 one by one until the output moves; the effect is shown at once.
  await page.fill('#dbg-ablate-layer', '0');
  await page.fill('#dbg-ablate-head', '4');
  await page.click('#dbg-ablate');
  await page.waitForSelector('#dbg-effect-after');
  const before = await page.textContent('#dbg-effect-before');
  const after = await page.textContent('#dbg-effect-after');
  check(before.replace('before', '') !== after.replace('after', ''), 'ablating layer 0 head 4 changes the next-token probabilities');
  await page.screenshot({ path: join(shots, 'debugger-edit.png'), fullPage: true });

  // Diff against the reference on the prompt: the first divergence named as the CLI names it.
  await page.click('#tab-diff');
  await page.click('#diff-run');
  await page.waitForSelector('#diff-summary dl');
  const diffApi = await (await fetch(`${origin}/api/diff`, {
    method: 'POST', headers: { 'X-Loupe-Token': token }, body: JSON.stringify({ prompt }),
  })).json();
  if (diffApi.first_divergence) {
    await page.waitForSelector('#diff-first-name');
    const shown = await page.textContent('#diff-first-name');
    check(shown.includes(diffApi.first_divergence.hook) || diffApi.layers.some((l) => l.hook === diffApi.first_divergence.hook && shown.length > 0),
      `diff: first divergence shown (${shown})`);
  }
  await page.screenshot({ path: join(shots, 'diff.png'), fullPage: true });

  // Activations on the corpus, profile, explore.
  await page.click('#tab-activations');
  await page.selectOption('#act-source', 'data:0');
  await page.click('#act-run');
  await page.waitForSelector('#act-table tr[data-i="3"]');
  await page.click('#act-table tr[data-i="3"]');
  await page.waitForSelector('#act-hist :is(rect, path)');
  check(true, 'activations: table and a histogram');
  await page.screenshot({ path: join(shots, 'activations.png'), fullPage: true });
  await page.click('#tab-profile');
  await page.click('#prof-run');
  await page.waitForSelector('#prof-kinds :is(rect, tr, div)');
  check(true, 'profile: time per op kind');
  await page.screenshot({ path: join(shots, 'profile.png'), fullPage: true });
  await page.click('#tab-explore');
  await page.click('#explore-run');
  await page.waitForFunction(() => (document.querySelector('#explore-summary')?.textContent ?? '').includes('4'));
  check(true, 'explore: the corpus report');
  await page.screenshot({ path: join(shots, 'explore.png'), fullPage: true });

  check(external.length === 0, `no request left the machine (${external.slice(0, 3).join(', ')})`);
  check(consoleErrors.length === 0, `no console errors (${consoleErrors.slice(0, 3).join(' | ')})`);
} catch (e) {
  console.log(`FAIL ${e.stack ?? e}`);
  failures++;
} finally {
  if (browser) await browser.close();
  // Ctrl-C: the server stops cleanly.
  const exited = new Promise((res) => server.on('exit', (code, signal) => res([code, signal])));
  server.kill('SIGINT');
  const [code] = await Promise.race([exited, new Promise((res) => setTimeout(() => res([-1]), 10000))]);
  check(code === 0, `SIGINT: loupe serve exits 0 (${code})`);
  rmSync(work, { recursive: true, force: true });
}
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
