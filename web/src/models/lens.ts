import type { LensReply, LensTop } from '../types';
import { logUnit } from '../colors';
import { shortHook } from '../format';

export type LensMode = 'kl' | 'p';

export interface LensCell {
  row: number;
  pos: number;
  top1: string;
  p: number | null;
  kl: number | null;
  entropy: number | null;
  top: LensTop[];
}

export interface LensGridRow {
  hook: string;
  layer: number;
  label: string;
  final: boolean;
  cells: LensCell[];
}

export interface LensGrid {
  columns: string[];
  rows: LensGridRow[];
  maxKl: number;
}

/** Rows = the lens's hooks in program order (then the final logits), columns = positions. */
export function buildLensGrid(r: LensReply, includeFinal = true): LensGrid {
  const columns = r.token_texts ?? r.tokens.map(String);
  const src = [...r.rows.map((row) => ({ row, final: false }))];
  if (includeFinal && r.final) src.push({ row: r.final, final: true });
  let maxKl = 0;
  const rows = src.map(({ row, final }, ri) => {
    const cells = columns.map((_, pos): LensCell => {
      const p = row.positions[pos];
      const top = p?.top ?? [];
      const kl = p?.kl_to_final ?? null;
      if (kl !== null && Number.isFinite(kl) && kl > maxKl) maxKl = kl;
      return {
        row: ri,
        pos,
        top1: top[0]?.text ?? '',
        p: top[0]?.p ?? null,
        kl,
        entropy: p?.entropy ?? null,
        top,
      };
    });
    return { hook: row.hook, layer: row.layer, label: final ? 'final logits' : shortHook(row.hook), final, cells };
  });
  return { columns, rows, maxKl };
}

/**
 * A cell's position on the colour scale: for 'kl', log(1 + KL) relative to the largest KL
 * (dark = far from the final prediction); for 'p', the top-1 probability (dark = confident).
 */
export function cellUnit(cell: LensCell, mode: LensMode, maxKl: number): number {
  if (mode === 'p') return cell.p ?? NaN;
  return logUnit(cell.kl, maxKl);
}
