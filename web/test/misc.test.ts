import { describe, expect, it } from 'vitest';
import { sourceOf, sourceOptions } from '../src/app';
import { legendStops, splitGenerated } from '../src/models/prompt';
import { linear, log10Scale, logDomain, logTicks, niceTicks } from '../src/scale';
import { lossToUnit } from '../src/colors';
import type { Info } from '../src/types';
import { readText } from './fixtures';

describe('generation', () => {
  it('splits prompt and generated tokens at n_prompt', () => {
    const r = {
      text: 'Once upon a time, there',
      tokens: [
        { id: 1, text: '<s>' },
        { id: 403, text: ' Once' },
        { id: 432, text: ',' },
        { id: 500, text: ' there' },
      ],
      n_prompt: 2,
      stop: 'length',
    };
    const s = splitGenerated(r);
    expect(s.prompt.map((t) => t.id)).toEqual([1, 403]);
    expect(s.generated.map((t) => t.id)).toEqual([432, 500]);
    expect(splitGenerated({ ...r, n_prompt: 9 }).generated).toEqual([]);
  });

  it('spaces the loss legend evenly on the colour scale', () => {
    const stops = legendStops(8, 5);
    expect(stops[0]).toBe(0);
    expect(stops[4]).toBe(8);
    stops.forEach((s, i) => expect(lossToUnit(s, 8)).toBeCloseTo(i / 4));
  });
});

describe('sources', () => {
  const info = { data: ['/a/corpus.jsonl', '/b/x.txt'] } as Info;
  it('offers the prompt and each data file', () => {
    expect(sourceOptions(info).map((o) => o[0])).toEqual(['prompt', 'data:0', 'data:1']);
    expect(sourceOptions(null)).toHaveLength(1);
    expect(sourceOf('data:1', 'p')).toEqual({ data: 1 });
    expect(sourceOf('prompt', 'p')).toEqual({ prompt: 'p' });
  });
});

describe('scales', () => {
  it('maps linearly and logarithmically', () => {
    const s = linear([0, 10], [100, 0]);
    expect(s(5)).toBe(50);
    const l = log10Scale([1e-6, 1], [0, 60]);
    expect(l(1e-3)).toBeCloseTo(30);
    expect(l(0)).toBe(0);
  });

  it('makes round ticks', () => {
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(3, 3)).toEqual([3]);
    const lt = logTicks(1e-7, 1e-2);
    expect(lt).toHaveLength(6);
    lt.forEach((v, i) => expect(v).toBeCloseTo(Math.pow(10, -7 + i), 12));
    expect(logTicks(1e-12, 1, 7).length).toBeLessThanOrEqual(7);
    expect(logDomain([3e-7, 0, 2e-3])).toEqual([1e-7, 1e-2]);
    expect(logDomain([])).toEqual([1e-12, 1]);
  });
});

describe('index.html', () => {
  const html = readText('index.html');
  it('has no inline script or style (CSP: default-src self)', () => {
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(html).not.toMatch(/\sstyle=/i);
    expect(html).not.toMatch(/<style/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
  });
  it('loads nothing from another origin', () => {
    expect(html).not.toMatch(/https?:\/\//);
  });
});
