/**
 * How long to wait before restarting a crashed child: exponential, jittered, capped, and forgiven
 * after a stable run. Pure: time comes in as arguments and randomness as an injected function,
 * so a test clock and a fixed `random` give exact, repeatable delays.
 */

/**
 * Backoff settings.
 *
 * @example
 * ```ts
 * const slowStart: BackoffPolicy = { ...DEFAULT_BACKOFF, initialMs: 500 };
 * ```
 */
export interface BackoffPolicy {
  /** The first delay (attempt 0), before jitter. */
  initialMs: number;
  /** No delay is ever longer than this, jitter included. */
  maxMs: number;
  /** Each further attempt multiplies the delay by this. */
  factor: number;
  /** 0..1: the fraction of the delay randomized either way (0.2 → ±20 %). */
  jitter: number;
  /** A process that stayed up at least this long is forgiven: the next crash starts at attempt 0. */
  resetAfterMs: number;
}

/**
 * The defaults: 100 ms doubling to at most 15 s, ±20 % jitter, forgiven after 30 s up
 * (the PM2 numbers users already know, with a faster start).
 *
 * @example
 * ```ts
 * backoffDelay(DEFAULT_BACKOFF, 0, Math.random); // 80..120
 * ```
 */
export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({
  initialMs: 100,
  maxMs: 15_000,
  factor: 2,
  jitter: 0.2,
  resetAfterMs: 30_000,
});

/**
 * The delay before restart number `attempt` (0-based), in whole ms, within `[0, maxMs]`.
 *
 * The exponential is capped before jitter too, so delays at the cap still spread out (children
 * that crashed together do not all come back in the same millisecond), and capped again after
 * jitter so that `maxMs` is a promise.
 *
 * @param random a source of numbers in [0, 1); 0.5 means "no jitter".
 * @example
 * ```ts
 * backoffDelay(DEFAULT_BACKOFF, 3, () => 0.5); // 800
 * ```
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number): number {
  const maxMs = Math.max(0, Math.floor(policy.maxMs));
  const step = Math.max(0, Math.floor(attempt));
  const exponential = Math.min(policy.initialMs * Math.pow(policy.factor, step), maxMs);
  const jitter = clamp(policy.jitter, 0, 1);
  const spread = 2 * clamp(random(), 0, 1) - 1; // -1..1
  const jittered = exponential * (1 + jitter * spread);
  const delay = Math.round(Math.min(jittered, maxMs));
  // NaN (a policy with NaN or negative numbers) degrades to "no wait" rather than poisoning timers.
  return Number.isFinite(delay) && delay > 0 ? delay : 0;
}

/**
 * The backoff state of one child across its restarts.
 *
 * @example
 * ```ts
 * const tracker: BackoffTracker = createBackoffTracker(DEFAULT_BACKOFF, Math.random);
 * ```
 */
export interface BackoffTracker {
  /** The child reached ready at `at`: its uptime is measured from here. */
  onStarted(at: number): void;
  /**
   * The child crashed at `at`: returns the delay before its restart. The attempt counter starts
   * over when the child had been up for at least `resetAfterMs`; a crash that never reached
   * ready (a failed start) keeps climbing.
   */
  onCrashed(at: number): number;
  /** Forget everything (a fresh start of the child, ordered from above). */
  reset(): void;
  /** The attempt number the next crash will use (0 = first delay). */
  readonly attempt: number;
}

/**
 * A backoff tracker: `onStarted` when the child is up, `onCrashed` to get the next delay.
 *
 * @example
 * ```ts
 * const backoff = createBackoffTracker(DEFAULT_BACKOFF, () => 0.5);
 * backoff.onStarted(0);
 * backoff.onCrashed(1_000); // 100
 * backoff.onCrashed(1_100); // 200 (it never came up again)
 * backoff.onStarted(2_000);
 * backoff.onCrashed(40_000); // 100: it had been up 38 s, so it is forgiven
 * ```
 */
export function createBackoffTracker(policy: BackoffPolicy, random: () => number): BackoffTracker {
  let attempt = 0;
  let startedAt: number | null = null;
  return {
    onStarted(at) {
      startedAt = at;
    },
    onCrashed(at) {
      if (startedAt !== null && at - startedAt >= policy.resetAfterMs) attempt = 0;
      startedAt = null;
      const delay = backoffDelay(policy, attempt, random);
      attempt++;
      return delay;
    },
    reset() {
      attempt = 0;
      startedAt = null;
    },
    get attempt() {
      return attempt;
    },
  };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
