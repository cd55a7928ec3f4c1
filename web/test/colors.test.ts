import { describe, expect, it } from 'vitest';
import { BLUE, HEAT, MISSING, logUnit, lossToUnit, luminance, sample, scaleColor, textOn } from '../src/colors';

describe('colour scales', () => {
  for (const [name, pal] of [
    ['HEAT', HEAT],
    ['BLUE', BLUE],
  ] as const) {
    it(`${name} darkens monotonically`, () => {
      let prev = Infinity;
      for (let i = 0; i <= 100; i++) {
        const l = luminance(sample(i / 100, pal));
        expect(l).toBeLessThanOrEqual(prev + 1e-9);
        prev = l;
      }
      expect(luminance(sample(0, pal))).toBeGreaterThan(0.8);
      expect(luminance(sample(1, pal))).toBeLessThan(0.1);
    });
  }

  it('clamps out-of-range values', () => {
    expect(sample(-3)).toEqual(sample(0));
    expect(sample(7)).toEqual(sample(1));
    expect(sample(Infinity)).toEqual(sample(1));
    expect(sample(-Infinity)).toEqual(sample(0));
  });

  it('gives NaN and null a neutral colour off the scale', () => {
    expect(sample(NaN)).toEqual(MISSING);
    expect(sample(null)).toEqual(MISSING);
    expect(sample(undefined)).toEqual(MISSING);
    expect(scaleColor(NaN)).toBe('rgb(215, 215, 215)');
  });

  it('maps losses onto [0, 1] monotonically', () => {
    expect(lossToUnit(0)).toBe(0);
    expect(lossToUnit(-1)).toBe(0);
    expect(lossToUnit(8, 8)).toBe(1);
    expect(lossToUnit(100, 8)).toBe(1);
    expect(lossToUnit(Infinity)).toBe(1);
    expect(Number.isNaN(lossToUnit(null))).toBe(true);
    expect(Number.isNaN(lossToUnit(NaN))).toBe(true);
    let prev = -1;
    for (let x = 0; x <= 10; x += 0.25) {
      const u = lossToUnit(x);
      expect(u).toBeGreaterThanOrEqual(prev);
      prev = u;
    }
  });

  it('log-maps heavy-tailed values', () => {
    expect(logUnit(0, 15)).toBe(0);
    expect(logUnit(15, 15)).toBeCloseTo(1);
    expect(logUnit(30, 15)).toBe(1);
    expect(logUnit(1, 0)).toBe(0);
    expect(Number.isNaN(logUnit(null, 3))).toBe(true);
    expect(logUnit(1, 15)).toBeGreaterThan(1 / 15);
  });

  it('chooses readable text colours', () => {
    expect(textOn(sample(0))).toBe('#111');
    expect(textOn(sample(1))).toBe('#fff');
  });
});
