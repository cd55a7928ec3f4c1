import { describe, expect, it } from 'vitest';
import { basename, escapeHtml, fmtBytes, fmtInt, fmtLoss, fmtMs, fmtNum, fmtProb, shortHook, visibleToken } from '../src/format';

describe('formatting', () => {
  it('formats probabilities', () => {
    expect(fmtProb(0.965696)).toBe('96.6%');
    expect(fmtProb(1)).toBe('100.0%');
    expect(fmtProb(0.99999)).toBe('>99.9%');
    expect(fmtProb(0.0123)).toBe('1.2%');
    expect(fmtProb(0.00012)).toBe('1.2e-4');
    expect(fmtProb(0)).toBe('0%');
    expect(fmtProb(null)).toBe('–');
    expect(fmtProb(NaN)).toBe('–');
  });

  it('formats losses', () => {
    expect(fmtLoss(1.23456)).toBe('1.23');
    expect(fmtLoss(0)).toBe('0.00');
    expect(fmtLoss(null)).toBe('–');
    expect(fmtLoss(Infinity)).toBe('∞');
  });

  it('formats general numbers', () => {
    expect(fmtNum(0)).toBe('0');
    expect(fmtNum(12)).toBe('12');
    expect(fmtNum(3.14159)).toBe('3.14');
    expect(fmtNum(-0.004655)).toBe('-0.00466');
    expect(fmtNum(2.9984e-5)).toBe('3.00e-5');
    expect(fmtNum(123456.7)).toBe('1.23e+5');
    expect(fmtNum(null)).toBe('–');
    expect(fmtNum(-Infinity)).toBe('-∞');
    expect(fmtInt(1234567)).toBe('1,234,567');
    expect(fmtMs(2.32378)).toBe('2.32 ms');
    expect(fmtMs(0.071376)).toBe('0.071 ms');
    expect(fmtMs(1500)).toBe('1.50 s');
    expect(fmtBytes(1185504)).toBe('1.1 MiB');
    expect(fmtBytes(512)).toBe('512 B');
  });

  it('makes whitespace in token text visible', () => {
    expect(visibleToken(' Once')).toBe('␣Once');
    expect(visibleToken('\n')).toBe('↵');
    expect(visibleToken('a\tb\r')).toBe('a⇥b␍');
    expect(visibleToken('\u0001')).toBe('\\x01');
    expect(visibleToken('')).toBe('∅');
    expect(visibleToken('<s>')).toBe('<s>');
    expect(visibleToken('héllo 😀')).toBe('héllo␣😀');
  });

  it('escapes HTML in untrusted token text', () => {
    expect(escapeHtml('<img src=x onerror="alert(1)">')).toBe('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
    expect(escapeHtml("a & b's")).toBe('a &amp; b&#39;s');
    // visibleToken leaves markup as plain characters: the views set it with textContent.
    expect(visibleToken('<b>')).toBe('<b>');
  });

  it('shortens paths and hook names', () => {
    expect(basename('/work/shared/models/x.gguf')).toBe('x.gguf');
    expect(basename('x')).toBe('x');
    expect(shortHook('blocks.3.hook_resid_post')).toBe('L3 resid_post');
    expect(shortHook('blocks.0.mlp.hook_post')).toBe('L0 mlp.post');
    expect(shortHook('hook_embed')).toBe('embed');
    expect(shortHook('unembed.hook_logits')).toBe('unembed.logits');
  });
});
