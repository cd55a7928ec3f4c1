import type { Breakpoint, DebugState, ListingOp } from '../types';

export interface ListingRow extends ListingOp {
  current: boolean;
  /** The breakpoints whose location names this op's hook exactly (or by a * pattern). */
  breakpointIds: number[];
}

/** Whether a breakpoint location ("blocks.1.hook_resid_post", "blocks.*.hook_z") names a hook. */
export function locationMatches(location: string, hook: string): boolean {
  const loc = location.trim().split(/[\s[]/)[0];
  if (loc === hook) return true;
  if (!loc.includes('*')) return false;
  const re = new RegExp('^' + loc.split('*').map((s) => s.replace(/[.+?^${}()|\\]/g, '\\$&')).join('.*') + '$');
  return re.test(hook);
}

/** The op the debugger stopped after (the `where` op), or null when it has not started. */
export function currentOp(state: DebugState): number | null {
  const w = state.where;
  if (!w || w.state === 'not started' || typeof w.op !== 'number' || w.op < 0) return null;
  return w.op;
}

/** The listing with the current op and the breakpoints of each row. */
export function listingModel(state: DebugState): ListingRow[] {
  const cur = currentOp(state);
  const bps: Breakpoint[] = state.breakpoints ?? [];
  return (state.listing ?? []).map((o) => ({
    ...o,
    current: cur === o.op,
    breakpointIds: o.hook ? bps.filter((b) => locationMatches(b.location, o.hook as string)).map((b) => b.id) : [],
  }));
}

/** The index (into the listing) of the row to scroll to: the current op, else the next one. */
export function focusIndex(rows: ListingRow[]): number {
  const c = rows.findIndex((r) => r.current);
  return c >= 0 ? c : rows.findIndex((r) => r.next);
}

/** The command that toggles a breakpoint on a row: `delete N...` or `break HOOK [if COND]`. */
export function toggleBreakpointCommand(row: ListingRow, condition = ''): string | null {
  if (!row.hook) return null;
  if (row.breakpointIds.length > 0) return `delete ${row.breakpointIds.join(' ')}`;
  const cond = condition.trim();
  return cond ? `break ${row.hook} if ${cond}` : `break ${row.hook}`;
}

/** `ablate L H` (what follows `edit `), or null when L or H is not a non-negative integer. */
export function ablateEdit(layer: string | number, head: string | number): string | null {
  const l = String(layer).trim();
  const h = String(head).trim();
  if (!/^\d+$/.test(l) || !/^\d+$/.test(h)) return null;
  return `ablate ${l} ${h}`;
}

/** `zero HOOK[SLICE]` or `scale HOOK[SLICE] F`, or null when incomplete. */
export function hookEdit(kind: 'zero' | 'scale', target: string, factor = ''): string | null {
  const t = target.trim();
  if (!t || /\s/.test(t)) return null;
  if (kind === 'zero') return `zero ${t}`;
  const f = factor.trim();
  if (!f || !Number.isFinite(Number(f))) return null;
  return `scale ${t} ${f}`;
}

/** One line describing where the debugger is. */
export function whereLine(state: DebugState): string {
  const w = state.where;
  if (!state.active) return 'no debugger session';
  if (!w) return 'unknown position';
  if (w.state === 'not started') return 'not started: set breakpoints, then run';
  const pos = w.positions ? `positions ${w.positions[0]}..${w.positions[1]}` : '';
  const op = typeof w.op === 'number' ? `after op ${w.op} ${w.label ?? ''} (${w.kind ?? ''})` : '';
  const hook = w.hook ? ` -> ${w.hook}` : '';
  const pc = typeof w.pc === 'number' && w.pc >= 0 ? `, pc ${w.pc} of ${w.n_ops}` : '';
  return `${w.state}, pass ${w.pass ?? 0} ${pos}: ${op}${hook}${pc}`;
}
