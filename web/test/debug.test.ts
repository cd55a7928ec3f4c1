import { describe, expect, it } from 'vitest';
import { ablateEdit, currentOp, focusIndex, hookEdit, listingModel, locationMatches, toggleBreakpointCommand, whereLine } from '../src/models/debug';
import type { Breakpoint, DebugState, ListingOp, Where } from '../src/types';
import { fixture } from './fixtures';

type Replies = Record<string, { text: string; json: Record<string, unknown> }>;
const replies = fixture<Replies>('debugger_replies.json');

// The state the server builds from `where`, `list all`, `info breakpoints|edits|display`.
const state: DebugState = {
  active: true,
  prompt: 'Once upon a time',
  where: replies['next'].json.where as Where,
  listing: replies['list all'].json.ops as ListingOp[],
  breakpoints: replies['info breakpoints'].json.breakpoints as Breakpoint[],
  edits: [],
  watches: [],
  next_token: null,
};

describe('debugger listing', () => {
  const rows = listingModel(state);

  it('has one row per op of the program', () => {
    expect(rows).toHaveLength(109);
    expect(rows.map((r) => r.op)).toEqual([...Array(109).keys()]);
  });

  it('marks the op the debugger stopped after and the next one', () => {
    expect(currentOp(state)).toBe(43);
    expect(rows.filter((r) => r.current).map((r) => r.op)).toEqual([43]);
    expect(rows.filter((r) => r.next).map((r) => r.op)).toEqual([43]);
    expect(focusIndex(rows)).toBe(43);
    const atRun = listingModel({ ...state, where: (replies['run'].json.where as Where) });
    expect(atRun.filter((r) => r.current).map((r) => r.op)).toEqual([42]);
  });

  it('shows no current op before the run starts', () => {
    const fresh = listingModel({ ...state, where: { state: 'not started' } });
    expect(fresh.some((r) => r.current)).toBe(false);
    expect(focusIndex(fresh)).toBe(43);
  });

  it('links breakpoints to their rows', () => {
    const bp = rows.filter((r) => r.breakpoint);
    expect(bp.map((r) => r.hook)).toEqual(['blocks.1.hook_resid_post']);
    expect(bp[0].breakpointIds).toEqual([1]);
    expect(rows.find((r) => r.op === 0)!.breakpointIds).toEqual([]);
  });

  it('toggles a breakpoint with break / delete', () => {
    const bp = rows.find((r) => r.breakpoint)!;
    expect(toggleBreakpointCommand(bp)).toBe('delete 1');
    const embed = rows[0];
    expect(toggleBreakpointCommand(embed)).toBe('break hook_embed');
    expect(toggleBreakpointCommand(embed, '  max > 10 ')).toBe('break hook_embed if max > 10');
    const noHook = rows.find((r) => r.hook === null)!;
    expect(noHook.label).toBe('blocks.0.attn.kv_cache');
    expect(toggleBreakpointCommand(noHook)).toBeNull();
  });

  it('matches breakpoint locations with patterns', () => {
    expect(locationMatches('blocks.1.hook_resid_post', 'blocks.1.hook_resid_post')).toBe(true);
    expect(locationMatches('blocks.*.hook_resid_post', 'blocks.3.hook_resid_post')).toBe(true);
    expect(locationMatches('blocks.*.hook_resid_post', 'blocks.3.hook_resid_pre')).toBe(false);
    expect(locationMatches('blocks.1.hook_resid_post[-1]', 'blocks.1.hook_resid_post')).toBe(true);
    expect(locationMatches('blocks.1', 'blocks.1.hook_resid_post')).toBe(false);
  });

  it('describes where the debugger is', () => {
    expect(whereLine(state)).toContain('after op 43 blocks.2.hook_resid_pre');
    expect(whereLine({ ...state, active: false })).toBe('no debugger session');
    expect(whereLine({ ...state, where: { state: 'not started' } })).toContain('not started');
  });
});

describe('debugger edits', () => {
  it('builds ablate edits', () => {
    expect(ablateEdit(2, 3)).toBe('ablate 2 3');
    expect(ablateEdit(' 2', '3 ')).toBe('ablate 2 3');
    expect(ablateEdit('', 3)).toBeNull();
    expect(ablateEdit('-1', 3)).toBeNull();
    expect(ablateEdit('1; run', 3)).toBeNull();
  });

  it('builds zero / scale edits', () => {
    expect(hookEdit('zero', 'blocks.0.hook_attn_out[:,3]')).toBe('zero blocks.0.hook_attn_out[:,3]');
    expect(hookEdit('zero', 'blocks.0.hook_mlp_out')).toBe('zero blocks.0.hook_mlp_out');
    expect(hookEdit('scale', 'blocks.0.hook_mlp_out', '0.5')).toBe('scale blocks.0.hook_mlp_out 0.5');
    expect(hookEdit('scale', 'blocks.0.hook_mlp_out', 'x')).toBeNull();
    expect(hookEdit('scale', 'blocks.0.hook_mlp_out', '')).toBeNull();
    expect(hookEdit('zero', '')).toBeNull();
    expect(hookEdit('zero', 'a b')).toBeNull();
  });
});
