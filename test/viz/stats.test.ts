/** The small pure pieces the views share: request stats over a sliding window, state history, tones. */
import { describe, expect, it } from 'vitest';
import { RequestStats, StateHistory, quantile, type ManagerEvent } from 'umdkit';
import { stateTone } from '../../src/viz/tones.js';

const request = (driver: string, latencyMs: number, outcome: 'OK' | 'TIMEOUT' = 'OK'): ManagerEvent => ({ type: 'request', driver, request: 'r', outcome, latencyMs, at: 0 });
const state = (instance: string, to: string, generation = 1): ManagerEvent => ({ type: 'state', driver: 'd', instance, generation, pid: null, from: 'x', to, at: 0 });

describe('RequestStats', () => {
  it('counts every request but takes percentiles over the most recent window only', () => {
    const stats = new RequestStats(3);
    stats.observe(request('a', 1000, 'TIMEOUT'));
    for (const ms of [1, 2, 3]) stats.observe(request('a', ms));
    stats.observe(request('b', 7));
    stats.observe(state('i', 'ready'));
    expect(stats.summary()).toEqual({
      a: { requests: 4, ok: 3, failed: 1, byOutcome: { TIMEOUT: 1, OK: 3 }, p50Ms: 2, p99Ms: 3 },
      b: { requests: 1, ok: 1, failed: 0, byOutcome: { OK: 1 }, p50Ms: 7, p99Ms: 7 },
    });
    expect(() => new RequestStats(0)).toThrow(RangeError);
  });

  it('uses nearest-rank quantiles', () => {
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([5], 0.99)).toBe(5);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile(Array.from({ length: 100 }, (_, i) => i + 1), 0.99)).toBe(99);
    expect(quantile(Array.from({ length: 100 }, (_, i) => i + 1), 0.5)).toBe(50);
  });
});

describe('StateHistory', () => {
  it('keeps the last states of each instance, oldest first', () => {
    const history = new StateHistory(3);
    for (const to of ['spawning', 'ready', 'crashed', 'backoff']) history.observe(state('i1', to));
    history.observe(state('i2', 'ready', 4));
    history.observe(request('d', 1));
    expect(history.toJSON()).toEqual({
      i1: [{ state: 'ready', generation: 1, at: 0 }, { state: 'crashed', generation: 1, at: 0 }, { state: 'backoff', generation: 1, at: 0 }],
      i2: [{ state: 'ready', generation: 4, at: 0 }],
    });
  });
});

describe('stateTone', () => {
  it('paints a mixed driver state by its worst part', () => {
    expect(stateTone('ready')).toBe('ok');
    expect(stateTone('busy+ready')).toBe('ok');
    expect(stateTone('backoff+ready')).toBe('starting');
    expect(stateTone('crashed+ready')).toBe('bad');
    expect(stateTone('stopped')).toBe('off');
  });
});
