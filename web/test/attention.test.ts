import { describe, expect, it } from 'vitest';
import { attentionLines, bestHead, headTable, patternOf, weightsOf, type Rect } from '../src/models/attention';
import type { AttentionReply, HeadScores } from '../src/types';
import { fixture } from './fixtures';

// A 4-token causal pattern: each row sums to 1, keys after the query are 0.
const P = [
  [1, 0, 0, 0],
  [0.7, 0.3, 0, 0],
  [0.5, 0.005, 0.495, 0],
  [0.1, 0.6, 0.2, 0.1],
];
const rects: Rect[] = [0, 1, 2, 3].map((i) => ({ x: 100 * i, y: 50, w: 40, h: 20 }));

describe('attention lines', () => {
  it('reads the weights of a query up to itself', () => {
    expect(weightsOf(P, 2)).toEqual([0.5, 0.005, 0.495]);
    expect(weightsOf(P, 0)).toEqual([1]);
    expect(weightsOf(P, 9)).toEqual(Array(10).fill(0));
  });

  it('draws one line per earlier key above the threshold', () => {
    const lines = attentionLines(P, 3, rects);
    expect(lines.map((l) => l.key)).toEqual([0, 1, 2]);
    expect(lines.map((l) => l.weight)).toEqual([0.1, 0.6, 0.2]);
    // The tiny weight 0.005 of key 1 for query 2 is left out; the query itself has no line.
    expect(attentionLines(P, 2, rects).map((l) => l.key)).toEqual([0]);
    expect(attentionLines(P, 0, rects)).toEqual([]);
  });

  it('makes width and opacity grow with the weight', () => {
    const lines = attentionLines(P, 3, rects, { maxWidth: 10 });
    const byKey = new Map(lines.map((l) => [l.key, l]));
    expect(byKey.get(1)!.width).toBeCloseTo(6);
    expect(byKey.get(1)!.width).toBeGreaterThan(byKey.get(2)!.width);
    expect(byKey.get(2)!.width).toBeGreaterThan(byKey.get(0)!.width);
    expect(byKey.get(1)!.opacity).toBeGreaterThan(byKey.get(0)!.opacity);
    for (const l of lines) {
      expect(l.opacity).toBeGreaterThan(0);
      expect(l.opacity).toBeLessThanOrEqual(1);
    }
  });

  it('runs from the top centre of the query chip to the top centre of the key chip, arcing above', () => {
    const [l0] = attentionLines(P, 3, rects);
    expect(l0.x1).toBe(320);
    expect(l0.y1).toBe(50);
    expect(l0.x2).toBe(20);
    expect(l0.y2).toBe(50);
    const m = /^M (\S+) (\S+) Q (\S+) (\S+) (\S+) (\S+)$/.exec(l0.d);
    expect(m).not.toBeNull();
    expect(Number(m![4])).toBeLessThan(50);
    expect(Number(m![5])).toBe(20);
  });

  it('returns nothing for a query without a chip', () => {
    expect(attentionLines(P, 3, [])).toEqual([]);
  });
});

describe('head scores', () => {
  const cli = fixture<{ tokens: number[]; heads: HeadScores[] }>('attention_cli.json');
  const reply: AttentionReply = {
    tokens: cli.tokens,
    token_texts: ['<s>', ' Once', ' upon', ' a', ' time'],
    n_layers: 5,
    n_heads: 8,
    heads: cli.heads,
    patterns: [[P]],
  };

  it('tabulates the heads by layer and head', () => {
    const t = headTable(reply);
    expect(t).toHaveLength(5);
    expect(t[0]).toHaveLength(8);
    expect(t[0][0]?.sink).toBeCloseTo(0.4513, 3);
    for (let l = 0; l < 5; l++) for (let h = 0; h < 8; h++) expect(t[l][h]).not.toBeNull();
  });

  it('finds the pattern of a head and the best head of a metric', () => {
    expect(patternOf(reply, 0, 0)).toBe(P);
    expect(patternOf(reply, 3, 3)).toEqual([]);
    const best = bestHead(reply, 'prev_token')!;
    expect(best.prev_token).toBe(Math.max(...cli.heads.map((h) => h.prev_token)));
  });
});
