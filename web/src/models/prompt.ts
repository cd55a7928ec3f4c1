import type { GenerateReply } from '../types';

export interface GenSplit {
  prompt: { id: number; text: string }[];
  generated: { id: number; text: string }[];
}

/** The generate reply's tokens (prompt + generated) split at n_prompt. */
export function splitGenerated(r: GenerateReply): GenSplit {
  const n = Math.max(0, Math.min(r.n_prompt, r.tokens.length));
  return { prompt: r.tokens.slice(0, n), generated: r.tokens.slice(n) };
}

/** The stops of the loss legend: nats values at which to draw a swatch. */
export function legendStops(max = 8, n = 5): number[] {
  return Array.from({ length: n }, (_, i) => (max * i * i) / ((n - 1) * (n - 1)));
}
