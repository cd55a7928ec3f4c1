import type { AttentionReply, HeadScores } from '../types';

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface AttLine {
  key: number;
  weight: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  /** An SVG path: an arc above the chips from the query to the key. */
  d: string;
  opacity: number;
  width: number;
}

/** The [query][key] pattern of one head ([] when absent). */
export function patternOf(r: AttentionReply, layer: number, head: number): number[][] {
  return r.patterns?.[layer]?.[head] ?? [];
}

/** The weights of query `q` over keys 0..q (causal: later keys are not attended). */
export function weightsOf(pattern: number[][], q: number): number[] {
  const row = pattern[q] ?? [];
  const out: number[] = [];
  for (let k = 0; k <= q; k++) {
    const w = row[k];
    out.push(typeof w === 'number' && Number.isFinite(w) ? w : 0);
  }
  return out;
}

/**
 * Lines from query chip `q` to every earlier key chip whose weight is at least `minWeight`;
 * width and opacity grow linearly with the weight. Rects are in the overlay's coordinates.
 */
export function attentionLines(
  pattern: number[][],
  q: number,
  rects: Rect[],
  opts: { minWeight?: number; maxWidth?: number } = {},
): AttLine[] {
  const minWeight = opts.minWeight ?? 0.01;
  const maxWidth = opts.maxWidth ?? 8;
  const from = rects[q];
  if (!from) return [];
  const w = weightsOf(pattern, q);
  const lines: AttLine[] = [];
  for (let k = 0; k < q; k++) {
    const to = rects[k];
    const weight = w[k];
    if (!to || weight < minWeight) continue;
    const x1 = from.x + from.w / 2;
    const y1 = from.y;
    const x2 = to.x + to.w / 2;
    const y2 = to.y;
    const lift = Math.min(56, 14 + Math.abs(x1 - x2) * 0.3 + Math.abs(y1 - y2) * 0.1);
    const cx = (x1 + x2) / 2;
    const cy = Math.min(y1, y2) - lift;
    lines.push({
      key: k,
      weight,
      x1,
      y1,
      x2,
      y2,
      d: `M ${r2(x1)} ${r2(y1)} Q ${r2(cx)} ${r2(cy)} ${r2(x2)} ${r2(y2)}`,
      opacity: Math.min(1, 0.15 + 0.85 * weight),
      width: Math.max(0.5, weight * maxWidth),
    });
  }
  return lines;
}

function r2(v: number): number {
  return Math.round(v * 100) / 100;
}

/** The scores as a [layer][head] table. */
export function headTable(r: AttentionReply): (HeadScores | null)[][] {
  const nl = r.n_layers ?? Math.max(0, ...r.heads.map((h) => h.layer + 1));
  const nh = r.n_heads ?? Math.max(0, ...r.heads.map((h) => h.head + 1));
  const t: (HeadScores | null)[][] = Array.from({ length: nl }, () => Array<HeadScores | null>(nh).fill(null));
  for (const h of r.heads) if (t[h.layer] && h.head < nh) t[h.layer][h.head] = h;
  return t;
}

export type HeadMetric = 'sink' | 'prev_token' | 'induction' | 'entropy';

/** The head with the highest score of a metric ({layer, head} or null). */
export function bestHead(r: AttentionReply, metric: HeadMetric): HeadScores | null {
  let best: HeadScores | null = null;
  for (const h of r.heads) if (!best || h[metric] > best[metric]) best = h;
  return best;
}
