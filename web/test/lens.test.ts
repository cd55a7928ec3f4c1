import { describe, expect, it } from 'vitest';
import { buildLensGrid, cellUnit } from '../src/models/lens';
import type { LensReply } from '../src/types';
import { fixture } from './fixtures';

const lens = fixture<LensReply>('lens.json');

describe('lens grid', () => {
  const g = buildLensGrid(lens);

  it('has one column per position and one row per hook plus the final logits', () => {
    expect(g.columns).toEqual(['<s>', ' Once', ' upon', ' a', ' time']);
    expect(g.rows).toHaveLength(16);
    expect(g.rows[0].hook).toBe('blocks.0.hook_resid_pre');
    expect(g.rows[0].label).toBe('L0 resid_pre');
    expect(g.rows[15].final).toBe(true);
    expect(g.rows[15].hook).toBe('unembed.hook_logits');
    for (const r of g.rows) expect(r.cells).toHaveLength(5);
    expect(buildLensGrid(lens, false).rows).toHaveLength(15);
  });

  it('takes the top-1 token, its probability and the KL of each cell', () => {
    const c = g.rows[0].cells[0];
    expect(c.top1).toBe('<s>');
    expect(c.p).toBeCloseTo(0.9999995, 6);
    expect(c.kl).toBeCloseTo(15.0711, 3);
    expect(c.top.length).toBeGreaterThan(0);
    const fin = g.rows[15].cells[0];
    expect(fin.top1).toBe(' Once');
    expect(fin.kl).toBe(0);
  });

  it('finds the largest KL and maps cells onto the colour scale', () => {
    const all = lens.rows.flatMap((r) => r.positions.map((p) => p.kl_to_final ?? 0));
    expect(g.maxKl).toBe(Math.max(...all));
    const c = g.rows[0].cells[0];
    const u = cellUnit(c, 'kl', g.maxKl);
    expect(u).toBeGreaterThan(0);
    expect(u).toBeLessThanOrEqual(1);
    expect(cellUnit(g.rows[15].cells[2], 'kl', g.maxKl)).toBe(0);
    expect(cellUnit(c, 'p', g.maxKl)).toBe(c.p);
  });

  it('copes with missing positions', () => {
    const short: LensReply = { ...lens, rows: [{ hook: 'blocks.0.hook_resid_pre', layer: 0, positions: [] }], final: null };
    const s = buildLensGrid(short);
    expect(s.rows).toHaveLength(1);
    expect(s.rows[0].cells[3].top1).toBe('');
    expect(Number.isNaN(cellUnit(s.rows[0].cells[3], 'kl', 1))).toBe(true);
  });
});
