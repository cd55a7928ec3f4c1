import type { ProfilePhase, ProfileReply, TraceEvent } from '../types';

export interface BarDatum {
  label: string;
  ms: number;
  percent: number;
  /** ms relative to the largest bar, 0..1. */
  frac: number;
  calls: number;
  detail: string;
}

function bars<T extends { ms: number; percent: number; calls: number }>(
  rows: T[],
  label: (r: T) => string,
  detail: (r: T) => string,
): BarDatum[] {
  const max = rows.reduce((m, r) => Math.max(m, r.ms), 0);
  return rows.map((r) => ({
    label: label(r),
    ms: r.ms,
    percent: r.percent,
    frac: max > 0 ? r.ms / max : 0,
    calls: r.calls,
    detail: detail(r),
  }));
}

/** Time per op kind, largest first. */
export function kindBars(p: ProfilePhase): BarDatum[] {
  const rows = [...p.by_kind].sort((a, b) => b.ms - a.ms);
  return bars(rows, (r) => r.kind, (r) => (r.bound ? `${r.bound}-bound` : ''));
}

/** Time per layer in layer order; layer -1 (embedding + unembedding) last as "embed/unembed". */
export function layerBars(p: ProfilePhase): BarDatum[] {
  const rows = [...(p.by_layer ?? [])].sort((a, b) => (a.layer < 0 ? 1e9 : a.layer) - (b.layer < 0 ? 1e9 : b.layer));
  return bars(rows, (r) => (r.layer < 0 ? 'embed/unembed' : `layer ${r.layer}`), () => '');
}

export interface Span {
  op: number;
  label: string;
  kind: string;
  layer: number;
  /** Microseconds from the start of the pass. */
  start: number;
  dur: number;
}

export interface Timeline {
  name: string;
  /** Whether the spans were measured (trace) or laid end to end from mean times. */
  measured: boolean;
  total: number;
  spans: Span[];
}

export interface TracePass {
  index: number;
  name: string;
  ts: number;
  dur: number;
}

/** The passes of a profile's Chrome trace, in time order. */
export function tracePasses(r: ProfileReply): TracePass[] {
  const ev = r.trace?.traceEvents ?? [];
  return ev
    .filter((e) => e.ph === 'X' && e.cat === 'pass' && typeof e.ts === 'number')
    .sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0))
    .map((e, index) => ({ index, name: e.name, ts: e.ts ?? 0, dur: e.dur ?? 0 }));
}

function num(v: unknown, d: number): number {
  return typeof v === 'number' ? v : d;
}

/** The ops of one traced pass as spans from the pass's start. */
export function traceTimeline(r: ProfileReply, pass: TracePass): Timeline {
  const ev: TraceEvent[] = r.trace?.traceEvents ?? [];
  const eps = 0.05;
  const end = pass.ts + pass.dur;
  const spans = ev
    .filter(
      (e) =>
        e.ph === 'X' &&
        e.cat !== 'pass' &&
        typeof e.ts === 'number' &&
        e.ts >= pass.ts - eps &&
        e.ts + (e.dur ?? 0) <= end + eps,
    )
    .map((e) => ({
      op: num(e.args?.op, -1),
      label: e.name,
      kind: typeof e.args?.kind === 'string' ? (e.args.kind as string) : (e.cat ?? ''),
      layer: num(e.args?.layer, -1),
      start: (e.ts ?? 0) - pass.ts,
      dur: e.dur ?? 0,
    }))
    .sort((a, b) => a.start - b.start);
  return { name: pass.name, measured: true, total: pass.dur, spans };
}

/**
 * A pass estimated from a phase's per-op totals: ops in program order, each lasting its mean
 * time per pass, laid end to end (for replies without a trace).
 */
export function estimatedTimeline(p: ProfilePhase): Timeline {
  const passes = Math.max(1, p.passes);
  const ops = [...(p.ops ?? [])].sort((a, b) => a.op - b.op);
  let t = 0;
  const spans = ops.map((o) => {
    const dur = (o.ms * 1000) / passes;
    const s = { op: o.op, label: o.label, kind: o.kind, layer: o.layer, start: t, dur };
    t += dur;
    return s;
  });
  return { name: `${p.phase} (mean pass, estimated)`, measured: false, total: t, spans };
}

export interface PhaseTotal {
  phase: string;
  passes: number;
  tokens: number;
  ms: number;
  opsMs: number;
  tokensPerS: number;
  topKind: string;
  topKindPercent: number;
}

export function phaseTotals(r: ProfileReply): PhaseTotal[] {
  return r.phases.map((p) => {
    const top = [...p.by_kind].sort((a, b) => b.ms - a.ms)[0];
    return {
      phase: p.phase,
      passes: p.passes,
      tokens: p.tokens,
      ms: p.seconds * 1000,
      opsMs: p.ops_seconds * 1000,
      tokensPerS: p.tokens_per_s,
      topKind: top?.kind ?? '',
      topKindPercent: top?.percent ?? 0,
    };
  });
}

/** A stable colour per op kind (index into a small categorical palette). */
export const KIND_COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export function kindColor(kind: string, kinds: string[]): string {
  const i = kinds.indexOf(kind);
  return KIND_COLORS[(i >= 0 ? i : kinds.length) % KIND_COLORS.length];
}
