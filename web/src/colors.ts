// Sequential colour scales whose lightness falls monotonically with the value, so that
// "darker = more" reads the same everywhere. Values are clamped to [0, 1]; NaN and null get
// a neutral grey that is not on the scale.

export type RGB = [number, number, number];

/** Light yellow -> orange -> red -> dark purple (for losses and other "badness"). */
export const HEAT: RGB[] = [
  [255, 250, 225],
  [254, 232, 160],
  [253, 196, 100],
  [246, 144, 62],
  [224, 88, 52],
  [178, 34, 64],
  [110, 12, 72],
  [52, 6, 46],
];

/** Near white -> blue -> dark navy (for probabilities). */
export const BLUE: RGB[] = [
  [247, 251, 255],
  [214, 230, 246],
  [170, 207, 229],
  [109, 174, 213],
  [55, 135, 192],
  [16, 92, 164],
  [8, 52, 110],
];

export const MISSING: RGB = [215, 215, 215];

export function clamp01(t: number): number {
  if (Number.isNaN(t)) return NaN;
  return t < 0 ? 0 : t > 1 ? 1 : t;
}

/** The scale's colour at t in [0, 1] (linear interpolation between anchors). */
export function sample(t: number | null | undefined, palette: RGB[] = HEAT): RGB {
  if (t === null || t === undefined || Number.isNaN(t)) return MISSING;
  const c = clamp01(t);
  const x = c * (palette.length - 1);
  const i = Math.min(Math.floor(x), palette.length - 2);
  const f = x - i;
  const a = palette[i];
  const b = palette[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * f)) as RGB;
}

export function css(rgb: RGB): string {
  return `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
}

export function scaleColor(t: number | null | undefined, palette: RGB[] = HEAT): string {
  return css(sample(t, palette));
}

/** Relative luminance (WCAG) of a colour, 0 (black) .. 1 (white). */
export function luminance(rgb: RGB): number {
  const lin = (v: number) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2]);
}

/** Black or white, whichever reads better on the background. */
export function textOn(rgb: RGB): string {
  return luminance(rgb) > 0.22 ? '#111' : '#fff';
}

/**
 * A loss in nats mapped onto [0, 1]: 0 nats -> 0, `max` nats (default ln 512 ~ 6.2, a uniform
 * guess over a small vocabulary) -> 1, on a square-root curve so that small losses still differ.
 */
export function lossToUnit(loss: number | null | undefined, max = 8): number {
  if (loss === null || loss === undefined || Number.isNaN(loss)) return NaN;
  if (loss === Infinity) return 1;
  if (loss <= 0) return 0;
  return clamp01(Math.sqrt(loss / max));
}

/** log(1 + v) / log(1 + max), clamped: for KL divergences and other heavy-tailed positives. */
export function logUnit(v: number | null | undefined, max: number): number {
  if (v === null || v === undefined || Number.isNaN(v)) return NaN;
  if (!(max > 0)) return 0;
  if (v === Infinity) return 1;
  return clamp01(Math.log1p(Math.max(0, v)) / Math.log1p(max));
}
