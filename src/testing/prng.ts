/**
 * A small seeded PRNG (mulberry32), so a fault schedule is a pure function of its seed: the same
 * seed gives the same faults at the same request numbers on every machine and every run.
 * `Math.random` cannot be seeded, and a schedule that cannot be replayed cannot be debugged.
 */

/**
 * A source of numbers in [0, 1), deterministic for a given seed.
 *
 * @example
 * ```ts
 * const random: Random = mulberry32(7);
 * ```
 */
export type Random = () => number;

/**
 * mulberry32: 32 bits of state, full period 2^32, good enough to spread faults over requests
 * (this is a test schedule, not cryptography).
 *
 * @example
 * ```ts
 * const random = mulberry32(42);
 * random(); // 0.6011037519201636, on every run
 * ```
 */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Checks a seed at the public boundary: an integer in [0, 2^32).
 *
 * @example
 * ```ts
 * seedOf('options.seed', 7); // 7
 * seedOf('options.seed', -1); // throws RangeError: options.seed must be an integer in [0, 4294967295], got -1
 * ```
 */
export function seedOf(path: string, value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`${path} must be an integer in [0, 4294967295], got ${typeof value}`);
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`${path} must be an integer in [0, 4294967295], got ${value}`);
  }
  return value;
}
