import { describe, expect, it } from 'vitest';
import { diffSeries, layerTicks, minPositive } from '../src/models/diff';
import type { DiffReply } from '../src/types';
import { fixture } from './fixtures';

const diff = fixture<DiffReply>('diff.json');

describe('diff series', () => {
  const s = diffSeries(diff);

  it('has one point per hook in program order', () => {
    expect(s.points).toHaveLength(diff.layers.length);
    expect(s.points[0]).toMatchObject({ i: 0, hook: 'hook_embed', op: 'embed.W_E', layer: -1 });
    expect(s.points[0].nmse).toBeCloseTo(2.998e-5, 8);
    expect(s.points[0].lensKl).toBeNull();
    expect(s.points[1].lensKl).toBeCloseTo(3.1697e-7, 10);
    expect(s.points.filter((p) => p.lensKl !== null)).toHaveLength(16);
  });

  it('finds the first divergence and the largest jump', () => {
    expect(s.firstIndex).toBe(0);
    expect(s.points[s.firstIndex].hook).toBe(diff.first_divergence!.hook);
    expect(s.largestJumpIndex).toBe(0);
  });

  it('finds a divergence later in the program by hook and op', () => {
    const target = diff.layers[40];
    const moved: DiffReply = { ...diff, first_divergence: { hook: target.hook, op: target.op, nmse: 1, max_nmse_before: 0 } };
    expect(diffSeries(moved).firstIndex).toBe(40);
    expect(diffSeries({ ...diff, first_divergence: null }).firstIndex).toBe(-1);
    expect(diffSeries({ ...diff, first_divergence: { hook: 'nope', op: 'x', nmse: 0, max_nmse_before: 0 } }).firstIndex).toBe(-1);
  });

  it('labels the x axis at the layer boundaries', () => {
    const t = s.layerTicks;
    expect(t[0]).toEqual({ i: 0, label: 'embed' });
    expect(t[1].label).toBe('L0');
    expect(t.map((x) => x.label)).toEqual(['embed', 'L0', 'L1', 'L2', 'L3', 'L4', 'unembed']);
    for (const x of t.slice(1)) expect(diff.layers[x.i].layer).not.toBe(diff.layers[x.i - 1].layer);
    expect(layerTicks([])).toEqual([]);
  });

  it('drops non-finite values and finds the log floor', () => {
    const bad: DiffReply = { ...diff, layers: [{ ...diff.layers[0], nmse: NaN }, { ...diff.layers[1], nmse: 0 }] };
    const b = diffSeries(bad);
    expect(b.points[0].nmse).toBeNull();
    expect(b.points[1].nmse).toBe(0);
    expect(minPositive([null, 0, 3, 1e-4])).toBe(1e-4);
    expect(minPositive([null, 0])).toBe(1e-12);
  });
});
