import type { DiffReply } from '../types';

export interface DiffSeriesPoint {
  i: number;
  hook: string;
  op: string;
  layer: number;
  nmse: number | null;
  lensKl: number | null;
  cosine: number | null;
}

export interface Tick {
  i: number;
  label: string;
}

export interface DiffSeries {
  points: DiffSeriesPoint[];
  /** Index into points of first_divergence (-1 when none or not found). */
  firstIndex: number;
  largestJumpIndex: number;
  layerTicks: Tick[];
}

function finite(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function indexOf(r: DiffReply, p: { hook: string; op: string } | null): number {
  if (!p) return -1;
  const exact = r.layers.findIndex((l) => l.hook === p.hook && l.op === p.op);
  return exact >= 0 ? exact : r.layers.findIndex((l) => l.hook === p.hook);
}

/** Labels where the layer changes: "embed" before block 0, "L0".."Ln", "unembed" after. */
export function layerTicks(layers: { layer: number }[]): Tick[] {
  const ticks: Tick[] = [];
  let prev: number | undefined;
  let seenBlock = false;
  layers.forEach((l, i) => {
    if (l.layer === prev) return;
    prev = l.layer;
    if (l.layer >= 0) {
      seenBlock = true;
      ticks.push({ i, label: `L${l.layer}` });
    } else ticks.push({ i, label: seenBlock ? 'unembed' : 'embed' });
  });
  return ticks;
}

/** The per-hook series along the program and the index of the first divergence. */
export function diffSeries(r: DiffReply): DiffSeries {
  const points = r.layers.map((l, i) => ({
    i,
    hook: l.hook,
    op: l.op,
    layer: l.layer,
    nmse: finite(l.nmse),
    lensKl: finite(l.lens_kl),
    cosine: finite(l.cosine),
  }));
  return {
    points,
    firstIndex: indexOf(r, r.first_divergence),
    largestJumpIndex: indexOf(r, r.largest_jump),
    layerTicks: layerTicks(r.layers),
  };
}

/** The smallest positive value of a list (for the floor of a log axis); `fallback` if none. */
export function minPositive(values: (number | null)[], fallback = 1e-12): number {
  let m = Infinity;
  for (const v of values) if (v !== null && v > 0 && v < m) m = v;
  return m === Infinity ? fallback : m;
}
