import { describe, expect, it } from 'vitest';
import { histogramBars, hookFlags, hookName, massiveList, neuronLists, normSeries } from '../src/models/activations';
import type { ActivationsReply } from '../src/types';
import { fixture } from './fixtures';

const act = fixture<ActivationsReply>('activations.json');

describe('activation histograms', () => {
  const embed = act.hooks.find((h) => hookName(h) === 'hook_embed')!;

  it('makes one bar per bin spanning the box', () => {
    const { bars, max } = histogramBars(embed.histogram, 600, 200);
    const counts = embed.histogram.counts;
    expect(bars).toHaveLength(counts.length);
    expect(max).toBe(Math.max(...counts));
    expect(bars[0].x).toBe(0);
    expect(bars[bars.length - 1].x + bars[bars.length - 1].w).toBeCloseTo(600);
    expect(bars[0].lo).toBe(embed.histogram.lo);
    expect(bars[bars.length - 1].hi).toBeCloseTo(embed.histogram.hi);
    const tallest = bars.find((b) => b.count === max)!;
    expect(tallest.h).toBeCloseTo(200);
    expect(tallest.y).toBeCloseTo(0);
    for (const b of bars) {
      expect(b.y + b.h).toBeCloseTo(200);
      if (b.count === 0) expect(b.h).toBe(0);
    }
  });

  it('counts add up to the hook count', () => {
    const { bars } = histogramBars(embed.histogram, 100, 100);
    expect(bars.reduce((s, b) => s + b.count, 0)).toBe(embed.count);
  });

  it('log-y lifts small bins', () => {
    const post = act.hooks.find((h) => hookName(h) === 'blocks.0.mlp.hook_post')!;
    const lin = histogramBars(post.histogram, 100, 100, false).bars;
    const log = histogramBars(post.histogram, 100, 100, true).bars;
    const i = post.histogram.counts.findIndex((c) => c === 1);
    expect(log[i].h).toBeGreaterThan(lin[i].h);
    const m = post.histogram.counts.indexOf(Math.max(...post.histogram.counts));
    expect(log[m].h).toBeCloseTo(100);
  });

  it('handles empty histograms', () => {
    expect(histogramBars({ lo: 0, hi: 1, counts: [] }, 10, 10).bars).toEqual([]);
    const z = histogramBars({ lo: 0, hi: 1, counts: [0, 0] }, 10, 10, true);
    expect(z.bars.every((b) => b.h === 0)).toBe(true);
  });
});

describe('activation summaries', () => {
  it('follows the residual stream norm along the layers', () => {
    const s = normSeries(act.hooks);
    expect(s[0].hook).toBe('hook_embed');
    expect(s[1].hook).toBe('blocks.0.hook_resid_pre');
    expect(s.every((p, i) => p.i === i)).toBe(true);
    expect(s.length).toBe(1 + 5 * 3);
    expect(s[s.length - 1].hook).toBe('blocks.4.hook_resid_post');
    expect(s[s.length - 1].value).toBeGreaterThan(s[0].value);
  });

  it('lists massive dims, largest ratio first', () => {
    const m = massiveList(act.hooks);
    expect(m.length).toBeGreaterThan(0);
    expect(m[0].ratio).toBe(Math.max(...m.map((x) => x.ratio)));
    for (let i = 1; i < m.length; i++) expect(m[i].ratio).toBeLessThanOrEqual(m[i - 1].ratio);
    expect(m.some((x) => x.hook === 'blocks.0.mlp.hook_post' && x.dim === 66)).toBe(true);
  });

  it('lists dead and always-on neurons of the MLP hooks', () => {
    const n = neuronLists(act.hooks);
    expect(n.map((x) => x.hook)).toContain('blocks.0.mlp.hook_pre');
    for (const x of n) {
      expect(Array.isArray(x.dead)).toBe(true);
      expect(Array.isArray(x.alwaysOn)).toBe(true);
    }
  });

  it('flags heavy tails and massive dims', () => {
    const post = act.hooks.find((h) => hookName(h) === 'blocks.0.mlp.hook_post')!;
    expect(hookFlags(post)).toContain('heavy tails');
    expect(hookFlags({ ...post, nan: 3, inf: 1 })).toEqual(expect.arrayContaining(['3 NaN', '1 Inf']));
    expect(hookName({ ...post, hook: undefined, name: 'x' })).toBe('x');
  });
});
