import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, createBackoffTracker, DEFAULT_BACKOFF, type BackoffPolicy } from '../../supervisors/backoff.js';

const noJitter = () => 0.5;
const lowest = () => 0;
const highest = () => 0.999_999_999;

describe('backoffDelay', () => {
  it('doubles from 100 ms up to the 15 s cap with the defaults', () => {
    const delays = Array.from({ length: 12 }, (_, attempt) => backoffDelay(DEFAULT_BACKOFF, attempt, noJitter));
    expect(delays).toEqual([100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 15_000, 15_000, 15_000, 15_000]);
  });

  it('follows the factor', () => {
    const policy: BackoffPolicy = { ...DEFAULT_BACKOFF, initialMs: 1_000, factor: 1.5, maxMs: 10_000 };
    const delays = [0, 1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(policy, attempt, noJitter));
    expect(delays).toEqual([1_000, 1_500, 2_250, 3_375, 5_063, 7_594, 10_000]);
  });

  it('spreads ±jitter: random 0 gives the low bound, random ~1 the high bound', () => {
    expect([0, 1, 2].map((attempt) => backoffDelay(DEFAULT_BACKOFF, attempt, lowest))).toEqual([80, 160, 320]);
    expect([0, 1, 2].map((attempt) => backoffDelay(DEFAULT_BACKOFF, attempt, highest))).toEqual([120, 240, 480]);
  });

  it('never exceeds maxMs, jitter included, and keeps jitter below the cap', () => {
    expect(backoffDelay(DEFAULT_BACKOFF, 7, highest)).toBe(15_000); // 12 800 × 1.2 would be 15 360
    expect(backoffDelay(DEFAULT_BACKOFF, 8, highest)).toBe(15_000);
    expect(backoffDelay(DEFAULT_BACKOFF, 8, lowest)).toBe(12_000);
    expect(backoffDelay(DEFAULT_BACKOFF, 1_000_000, lowest)).toBe(12_000);
  });

  it('has no jitter when jitter is 0', () => {
    const policy = { ...DEFAULT_BACKOFF, jitter: 0 };
    expect(backoffDelay(policy, 2, lowest)).toBe(400);
    expect(backoffDelay(policy, 2, highest)).toBe(400);
  });

  it('never returns a negative or NaN delay', () => {
    expect(backoffDelay({ ...DEFAULT_BACKOFF, jitter: 1 }, 0, lowest)).toBe(0);
    expect(backoffDelay({ ...DEFAULT_BACKOFF, jitter: 1 }, 1_000_000, lowest)).toBe(0);
    expect(backoffDelay({ ...DEFAULT_BACKOFF, initialMs: Number.NaN }, 0, noJitter)).toBe(0);
    expect(backoffDelay({ ...DEFAULT_BACKOFF, initialMs: -100 }, 0, noJitter)).toBe(0);
    expect(backoffDelay(DEFAULT_BACKOFF, 0, () => 7)).toBe(120); // a broken random is clamped
  });

  it('is an integer within [0, maxMs] for any policy, attempt and random draw', () => {
    fc.assert(
      fc.property(
        fc.record({
          initialMs: fc.integer({ min: 0, max: 100_000 }),
          maxMs: fc.integer({ min: 0, max: 1_000_000 }),
          factor: fc.double({ min: 1, max: 10, noNaN: true }),
          jitter: fc.double({ min: 0, max: 1, noNaN: true }),
          resetAfterMs: fc.constant(30_000),
        }),
        fc.integer({ min: 0, max: 2_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (policy, attempt, r) => {
          const delay = backoffDelay(policy, attempt, () => r);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(policy.maxMs);
        },
      ),
    );
  });
});

describe('createBackoffTracker', () => {
  it('climbs while the child keeps crashing before it is stable', () => {
    const tracker = createBackoffTracker(DEFAULT_BACKOFF, noJitter);
    expect(tracker.attempt).toBe(0);
    expect([tracker.onCrashed(0), tracker.onCrashed(10), tracker.onCrashed(20)]).toEqual([100, 200, 400]);
    expect(tracker.attempt).toBe(3);
  });

  it('keeps climbing when the child was up for less than resetAfterMs', () => {
    const tracker = createBackoffTracker(DEFAULT_BACKOFF, noJitter);
    tracker.onCrashed(0);
    tracker.onStarted(1_000);
    expect(tracker.onCrashed(1_000 + 29_999)).toBe(200);
  });

  it('starts over after resetAfterMs of uptime', () => {
    const tracker = createBackoffTracker(DEFAULT_BACKOFF, noJitter);
    tracker.onCrashed(0);
    tracker.onCrashed(0);
    tracker.onStarted(5_000);
    expect(tracker.onCrashed(5_000 + 30_000)).toBe(100);
    expect(tracker.onCrashed(35_001)).toBe(200);
  });

  it('does not forgive a crash that never reached ready, however late', () => {
    const tracker = createBackoffTracker(DEFAULT_BACKOFF, noJitter);
    tracker.onStarted(0);
    expect(tracker.onCrashed(100)).toBe(100);
    // The uptime of the earlier process does not count for the failed start that follows.
    expect(tracker.onCrashed(1_000_000)).toBe(200);
  });

  it('forgets everything on reset', () => {
    const tracker = createBackoffTracker(DEFAULT_BACKOFF, noJitter);
    tracker.onCrashed(0);
    tracker.onCrashed(0);
    tracker.reset();
    expect(tracker.attempt).toBe(0);
    expect(tracker.onCrashed(1)).toBe(100);
  });

  it('draws from the injected random', () => {
    const draws = [0, 0.999_999_999, 0.5];
    const tracker = createBackoffTracker(DEFAULT_BACKOFF, () => draws.shift()!);
    expect([tracker.onCrashed(0), tracker.onCrashed(0), tracker.onCrashed(0)]).toEqual([80, 240, 400]);
  });
});
