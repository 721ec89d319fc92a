/**
 * OTP restart intensity: a supervisor that restarts more than `maxRestarts` times within
 * `periodMs` gives up and escalates, instead of feeding a restart storm.
 *
 * The window is a plain array of timestamps so that it can live in a machine's context; the
 * functions here never mutate their input.
 */

/**
 * A restart limit: more than `maxRestarts` restarts within any `periodMs` window is too many.
 *
 * @example
 * ```ts
 * const strict: IntensityLimit = { maxRestarts: 1, periodMs: 5_000 }; // OTP's default
 * ```
 */
export interface IntensityLimit {
  maxRestarts: number;
  periodMs: number;
}

/**
 * The default limit: 3 restarts in 5 s (OTP's 1 in 5 s is harsh for processes that take ~70 ms
 * to start and may legitimately die on a hostile input now and then).
 *
 * @example
 * ```ts
 * createIntensity(DEFAULT_INTENSITY);
 * ```
 */
export const DEFAULT_INTENSITY: Readonly<IntensityLimit> = Object.freeze({ maxRestarts: 3, periodMs: 5_000 });

/**
 * The verdict on one more restart.
 *
 * @example
 * ```ts
 * const { exceeded, count }: IntensityVerdict = intensity.record(now);
 * ```
 */
export interface IntensityVerdict {
  /** More than `maxRestarts` restarts within the period, this one included: give up. */
  exceeded: boolean;
  /** Restarts within the period, this one included (stops growing at `maxRestarts + 1`). */
  count: number;
}

/**
 * Adds a restart at `at` to `window` and judges it. Returns the new window (pruned: it never holds
 * more than `maxRestarts + 1` timestamps, nor any older than the period) and the verdict.
 *
 * Matches OTP: a restart exactly `periodMs` after an earlier one still counts that earlier one.
 * Timestamps are expected from a monotonic clock (non-decreasing).
 *
 * @example
 * ```ts
 * let window: number[] = [];
 * ({ window } = recordRestart(window, 0, { maxRestarts: 1, periodMs: 5_000 }));    // ok
 * recordRestart(window, 4_000, { maxRestarts: 1, periodMs: 5_000 }).exceeded;     // true
 * ```
 */
export function recordRestart(
  window: readonly number[],
  at: number,
  limit: IntensityLimit,
): IntensityVerdict & { window: number[] } {
  const since = at - limit.periodMs;
  const recent = window.filter((t) => t >= since);
  recent.push(at);
  // Only the newest maxRestarts + 1 matter to "more than maxRestarts": older ones are dropped
  // even inside the period, so a burst cannot grow the window without bound.
  const keep = Math.max(1, Math.floor(limit.maxRestarts) + 1);
  const next = recent.length > keep ? recent.slice(recent.length - keep) : recent;
  return { window: next, count: next.length, exceeded: next.length > limit.maxRestarts };
}

/**
 * A restart-intensity counter (the stateful wrapper around {@link recordRestart}).
 *
 * @example
 * ```ts
 * const intensity: Intensity = createIntensity({ maxRestarts: 1, periodMs: 5_000 });
 * ```
 */
export interface Intensity {
  /** Records a restart at `at` (ms) and says whether the limit is now exceeded. */
  record(at: number): IntensityVerdict;
  /** Forgets every recorded restart. */
  reset(): void;
  /** The timestamps currently remembered (for inspection and tests). */
  readonly window: readonly number[];
}

/**
 * A restart-intensity counter.
 *
 * @example
 * ```ts
 * const intensity = createIntensity({ maxRestarts: 1, periodMs: 5_000 });
 * intensity.record(0);     // { exceeded: false, count: 1 }
 * intensity.record(4_000); // { exceeded: true, count: 2 }: the second restart within 5 s
 * ```
 */
export function createIntensity(limit: IntensityLimit = DEFAULT_INTENSITY): Intensity {
  let window: number[] = [];
  return {
    record(at) {
      const result = recordRestart(window, at, limit);
      window = result.window;
      return { exceeded: result.exceeded, count: result.count };
    },
    reset() {
      window = [];
    },
    get window() {
      return window;
    },
  };
}
