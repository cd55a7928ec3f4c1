import { describe, expect, it } from 'vitest';
import { estimatedTimeline, kindBars, kindColor, layerBars, phaseTotals, traceTimeline, tracePasses } from '../src/models/profile';
import type { ProfileReply } from '../src/types';
import { fixture } from './fixtures';

const prof = fixture<ProfileReply>('profile.json');
const prefill = prof.phases.find((p) => p.phase === 'prefill')!;

describe('profile aggregation', () => {
  it('sorts op kinds by time, largest first, relative to the largest', () => {
    const b = kindBars(prefill);
    expect(b).toHaveLength(prefill.by_kind.length);
    expect(b[0].label).toBe('matmul');
    expect(b[0].frac).toBe(1);
    for (let i = 1; i < b.length; i++) expect(b[i].ms).toBeLessThanOrEqual(b[i - 1].ms);
    const sumPct = b.reduce((s, x) => s + x.percent, 0);
    expect(sumPct).toBeCloseTo(prefill.total.percent, 6);
  });

  it('lists layers in order with embed/unembed last', () => {
    const b = layerBars(prefill);
    expect(b.map((x) => x.label)).toEqual(['layer 0', 'layer 1', 'layer 2', 'layer 3', 'layer 4', 'embed/unembed']);
    const total = prefill.by_layer!.reduce((s, x) => s + x.ms, 0);
    expect(b.reduce((s, x) => s + x.ms, 0)).toBeCloseTo(total);
    expect(Math.max(...b.map((x) => x.frac))).toBe(1);
  });

  it('totals each phase', () => {
    const t = phaseTotals(prof);
    expect(t.map((x) => x.phase)).toEqual(['prefill', 'decode']);
    expect(t[0].ms).toBeCloseTo(prefill.seconds * 1000);
    expect(t[0].topKind).toBe('matmul');
    expect(t[1].passes).toBeGreaterThan(1);
  });

  it('estimates a pass from the per-op times when there is no trace', () => {
    expect(tracePasses(prof)).toEqual([]);
    const decode = prof.phases.find((p) => p.phase === 'decode')!;
    const t = estimatedTimeline(decode);
    expect(t.measured).toBe(false);
    expect(t.spans.length).toBe(decode.ops!.length);
    for (let i = 1; i < t.spans.length; i++) {
      expect(t.spans[i].op).toBeGreaterThan(t.spans[i - 1].op);
      expect(t.spans[i].start).toBeCloseTo(t.spans[i - 1].start + t.spans[i - 1].dur);
    }
    const sumUs = decode.ops!.reduce((s, o) => s + o.ms * 1000, 0) / decode.passes;
    expect(t.total).toBeCloseTo(sumUs);
  });

  it('lays out a traced pass from its Chrome trace', () => {
    // The shape perf::chrome_trace writes: pass events on tid 1, op events on tid 2 (µs).
    const traced: ProfileReply = {
      ...prof,
      trace: {
        traceEvents: [
          { name: 'thread_name', ph: 'M', pid: 1, tid: 1, args: { name: 'passes' } },
          { name: 'prefill 0', cat: 'pass', tid: 1, ph: 'X', pid: 1, ts: 100, dur: 50, args: { phase: 'prefill', pass: 0 } },
          { name: 'embed.W_E', cat: 'embed', tid: 2, ph: 'X', pid: 1, ts: 101, dur: 2, args: { layer: -1, op: 0, kind: 'embed' } },
          { name: 'blocks.0.attn.W_Q', cat: 'matmul', tid: 2, ph: 'X', pid: 1, ts: 110.5, dur: 20, args: { layer: 0, op: 4, kind: 'matmul' } },
          { name: 'decode 1', cat: 'pass', tid: 1, ph: 'X', pid: 1, ts: 200, dur: 10, args: {} },
          { name: 'embed.W_E', cat: 'embed', tid: 2, ph: 'X', pid: 1, ts: 201, dur: 1, args: { layer: -1, op: 0, kind: 'embed' } },
        ],
      },
    };
    const passes = tracePasses(traced);
    expect(passes.map((p) => p.name)).toEqual(['prefill 0', 'decode 1']);
    const t = traceTimeline(traced, passes[0]);
    expect(t.measured).toBe(true);
    expect(t.total).toBe(50);
    expect(t.spans).toEqual([
      { op: 0, label: 'embed.W_E', kind: 'embed', layer: -1, start: 1, dur: 2 },
      { op: 4, label: 'blocks.0.attn.W_Q', kind: 'matmul', layer: 0, start: 10.5, dur: 20 },
    ]);
    expect(traceTimeline(traced, passes[1]).spans).toHaveLength(1);
  });

  it('gives each kind a stable colour', () => {
    const kinds = ['matmul', 'softmax'];
    expect(kindColor('matmul', kinds)).toBe(kindColor('matmul', kinds));
    expect(kindColor('matmul', kinds)).not.toBe(kindColor('softmax', kinds));
  });
});
