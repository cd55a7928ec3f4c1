// Number and token-text formatting. Token text comes from the model's vocabulary and is
// untrusted: it is always put into the page with textContent, never as HTML.

export const DASH = '–';

function bad(x: number | null | undefined): x is null | undefined {
  return x === null || x === undefined || Number.isNaN(x);
}

/** A probability as a percentage: 0.9657 -> "96.6%", 0.00012 -> "1.2e-4", 0 -> "0%". */
export function fmtProb(p: number | null | undefined): string {
  if (bad(p)) return DASH;
  if (p === 0) return '0%';
  if (p >= 0.001) {
    const pct = p * 100;
    return (pct >= 99.95 && p < 1 ? '>99.9' : pct.toFixed(1)) + '%';
  }
  return p.toExponential(1);
}

/** A loss or entropy in nats with 2 decimals ("∞" for an impossible token). */
export function fmtLoss(x: number | null | undefined): string {
  if (bad(x)) return DASH;
  if (x === Infinity) return '∞';
  return x.toFixed(2);
}

/** A general number: 3 significant digits, exponent form for the very small or large. */
export function fmtNum(x: number | null | undefined, digits = 3): string {
  if (bad(x)) return DASH;
  if (x === Infinity) return '∞';
  if (x === -Infinity) return '-∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(Math.max(0, digits - 1));
  if (Number.isInteger(x) && a < 1e5) return String(x);
  const s = x.toPrecision(digits);
  return s.includes('e') ? x.toExponential(digits - 1) : s;
}

/** An integer with thousands separators ("1,234,567"). */
export function fmtInt(x: number | null | undefined): string {
  if (bad(x)) return DASH;
  return Math.round(x).toLocaleString('en-US');
}

/** Milliseconds: "2.32 ms", "0.071 ms", "1.24 s". */
export function fmtMs(ms: number | null | undefined): string {
  if (bad(ms)) return DASH;
  if (ms >= 1000) return (ms / 1000).toFixed(2) + ' s';
  if (ms >= 1) return ms.toFixed(2) + ' ms';
  return ms.toPrecision(2) + ' ms';
}

export function fmtBytes(b: number | null | undefined): string {
  if (bad(b)) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = b;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? String(v) : v.toFixed(1)) + ' ' + units[i];
}

export function fmtPercent(x: number | null | undefined, digits = 1): string {
  if (bad(x)) return DASH;
  return x.toFixed(digits) + '%';
}

const VISIBLE: Record<string, string> = {
  ' ': '␣',
  '\n': '↵',
  '\r': '␍',
  '\t': '⇥',
};

/**
 * Token text with whitespace made visible: spaces as ␣, newlines as ↵, tabs as ⇥, other
 * control characters as \xNN; the empty string as ∅. The result is still plain text.
 */
export function visibleToken(text: string | null | undefined): string {
  if (text === null || text === undefined) return DASH;
  if (text === '') return '∅';
  let out = '';
  for (const ch of text) {
    const v = VISIBLE[ch];
    if (v) out += v;
    else {
      const c = ch.codePointAt(0) ?? 0;
      if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
      else out += ch;
    }
  }
  return out;
}

/** HTML-escapes text (for the rare place that builds markup; the views use textContent). */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** The file name of a path ("/a/b/c.jsonl" -> "c.jsonl"). */
export function basename(path: string): string {
  const i = path.lastIndexOf('/');
  return i >= 0 ? path.slice(i + 1) : path;
}

/** A short name for a hook: "blocks.3.hook_resid_post" -> "L3 resid_post". */
export function shortHook(hook: string): string {
  const m = /^blocks\.(\d+)\.(.*)$/.exec(hook);
  if (!m) return hook.replace(/^hook_/, '').replace(/\.hook_/, '.');
  return `L${m[1]} ${m[2].replace(/^hook_/, '').replace(/\.hook_/, '.')}`;
}
