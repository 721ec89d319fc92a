import { describe, expect, it } from 'vitest';
import { createIntensity, DEFAULT_INTENSITY, recordRestart } from '../../supervisors/intensity.js';

describe('restart intensity (OTP)', () => {
  it('1 restart in 5000 ms: the second restart within 5 s exceeds', () => {
    const intensity = createIntensity({ maxRestarts: 1, periodMs: 5_000 });
    expect(intensity.record(10_000)).toEqual({ exceeded: false, count: 1 });
    expect(intensity.record(14_999)).toEqual({ exceeded: true, count: 2 });
  });

  it('counts an earlier restart exactly periodMs ago, like OTP, and not one a millisecond older', () => {
    const edge = createIntensity({ maxRestarts: 1, periodMs: 5_000 });
    edge.record(0);
    expect(edge.record(5_000).exceeded).toBe(true);

    const past = createIntensity({ maxRestarts: 1, periodMs: 5_000 });
    past.record(0);
    expect(past.record(5_001)).toEqual({ exceeded: false, count: 1 });
  });

  it('never exceeds when restarts are spread out', () => {
    const intensity = createIntensity({ maxRestarts: 1, periodMs: 5_000 });
    for (let i = 0; i < 1_000; i++) expect(intensity.record(i * 5_001).exceeded).toBe(false);
  });

  it('allows exactly maxRestarts within the period', () => {
    const intensity = createIntensity(DEFAULT_INTENSITY);
    expect([0, 1_000, 2_000].map((at) => intensity.record(at).exceeded)).toEqual([false, false, false]);
    expect(intensity.record(3_000)).toEqual({ exceeded: true, count: 4 });
  });

  it('with maxRestarts 0, the first restart exceeds', () => {
    expect(createIntensity({ maxRestarts: 0, periodMs: 5_000 }).record(0).exceeded).toBe(true);
  });

  it('has OTP-like defaults of 3 in 5 s', () => {
    expect(DEFAULT_INTENSITY).toEqual({ maxRestarts: 3, periodMs: 5_000 });
  });

  it('keeps memory bounded over 100 000 records, even all within one period', () => {
    const burst = createIntensity({ maxRestarts: 3, periodMs: 1e12 });
    let longest = 0;
    for (let i = 0; i < 100_000; i++) {
      burst.record(i);
      longest = Math.max(longest, burst.window.length);
    }
    expect(longest).toBe(4);
    expect(burst.window).toEqual([99_996, 99_997, 99_998, 99_999]);

    const spread = createIntensity({ maxRestarts: 50, periodMs: 10 });
    for (let i = 0; i < 100_000; i++) spread.record(i * 3);
    expect(spread.window.length).toBeLessThanOrEqual(4); // only the last 10 ms: 299 988..299 997
  });

  it('forgets everything on reset', () => {
    const intensity = createIntensity({ maxRestarts: 1, periodMs: 5_000 });
    intensity.record(0);
    intensity.reset();
    expect(intensity.record(1)).toEqual({ exceeded: false, count: 1 });
  });

  it('recordRestart is pure: the window it is given is not changed', () => {
    const window = Object.freeze([100, 200]);
    const result = recordRestart(window, 300, { maxRestarts: 5, periodMs: 150 });
    expect(window).toEqual([100, 200]);
    expect(result).toEqual({ window: [200, 300], count: 2, exceeded: false });
  });
});
