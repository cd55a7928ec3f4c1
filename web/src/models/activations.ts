import type { Histogram, HookStats } from '../types';

export function hookName(h: HookStats): string {
  return h.hook ?? h.name ?? '?';
}

export interface Bar {
  x: number;
  w: number;
  y: number;
  h: number;
  lo: number;
  hi: number;
  count: number;
}

/**
 * Bars of a histogram with equal-width bins over [lo, hi) in a width x height box (y grows
 * downwards). With logY the height is log10(1 + count) / log10(1 + max) of the box.
 */
export function histogramBars(hist: Histogram, width: number, height: number, logY = false): { bars: Bar[]; max: number } {
  const counts = hist.counts ?? [];
  const n = counts.length;
  const max = counts.reduce((m, c) => (c > m ? c : m), 0);
  if (n === 0) return { bars: [], max };
  const bw = width / n;
  const step = (hist.hi - hist.lo) / n;
  const bars = counts.map((count, i): Bar => {
    let f = 0;
    if (max > 0 && count > 0) f = logY ? Math.log10(1 + count) / Math.log10(1 + max) : count / max;
    const h = f * height;
    return { x: i * bw, w: bw, y: height - h, h, lo: hist.lo + i * step, hi: hist.lo + (i + 1) * step, count };
  });
  return { bars, max };
}

const RESIDUAL = /(^hook_embed$|hook_resid_(pre|mid|post)$)/;

export interface NormPoint {
  i: number;
  hook: string;
  layer: number;
  value: number;
}

/** mean_norm along the residual stream (embedding, then each block's resid pre/mid/post). */
export function normSeries(hooks: HookStats[]): NormPoint[] {
  const out: NormPoint[] = [];
  for (const h of hooks) {
    const name = hookName(h);
    if (!RESIDUAL.test(name) || h.mean_norm === null || h.mean_norm === undefined) continue;
    out.push({ i: out.length, hook: name, layer: h.layer, value: h.mean_norm });
  }
  return out;
}

export interface MassiveEntry {
  hook: string;
  dim: number;
  max_abs: number;
  ratio: number;
}

/** Every hook's massive dimensions, largest ratio first. */
export function massiveList(hooks: HookStats[]): MassiveEntry[] {
  const out: MassiveEntry[] = [];
  for (const h of hooks) for (const m of h.massive ?? []) out.push({ hook: hookName(h), ...m });
  return out.sort((a, b) => b.ratio - a.ratio);
}

export interface NeuronEntry {
  hook: string;
  width: number | null;
  dead: number[];
  alwaysOn: number[];
}

/** The MLP hooks that report dead / always-on neurons. */
export function neuronLists(hooks: HookStats[]): NeuronEntry[] {
  return hooks
    .filter((h) => h.dead_neurons !== undefined || h.always_on_neurons !== undefined)
    .map((h) => ({
      hook: hookName(h),
      width: h.width ?? null,
      dead: h.dead_neurons ?? [],
      alwaysOn: h.always_on_neurons ?? [],
    }));
}

/** Problems worth flagging in the table: non-finite values, heavy tails. */
export function hookFlags(h: HookStats): string[] {
  const f: string[] = [];
  if (h.nan > 0) f.push(`${h.nan} NaN`);
  if (h.inf > 0) f.push(`${h.inf} Inf`);
  if (h.kurtosis !== null && h.kurtosis > 50) f.push('heavy tails');
  if ((h.massive ?? []).length > 0) f.push(`${h.massive.length} massive`);
  return f;
}
