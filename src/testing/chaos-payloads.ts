import { mulberry32 } from './prng.js';

/**
 * Named payload generators for chaos runs (`umdkit chaos --payload <name>`): request `i` of a run
 * seeded `seed` gets `generator(i, seed)`, the same on every run.
 */

/**
 * A payload generator: the payload of request `i` (0-based) of a run seeded `seed`.
 *
 * @example
 * ```ts
 * const payload: PayloadGenerator = (i) => i % 1024;
 * ```
 */
export type PayloadGenerator = (i: number, seed: number) => unknown;

const encoder = new TextEncoder();

/**
 * The generators by name, and what each sends.
 *
 * @example
 * ```ts
 * CHAOS_PAYLOADS['json-bytes']!.generate(3, 1); // Uint8Array of '{"request":3,"items":[0,1,2]}'
 * ```
 */
export const CHAOS_PAYLOADS: Readonly<Record<string, { does: string; generate: PayloadGenerator }>> = Object.freeze({
  offset: { does: 'the number i % 1024 (what the sample drivers read as an offset; the default)', generate: (i) => i % 1024 },
  index: { does: 'the number i', generate: (i) => i },
  'json-bytes': {
    does: 'a byte string of UTF-8 JSON text, {"request":i,"items":[...]} (for handlers that parse bytes)',
    generate: (i) => encoder.encode(JSON.stringify({ request: i, items: Array.from({ length: i % 8 }, (_, k) => k) })),
  },
  'random-bytes': {
    does: 'a byte string of 0-255 seeded random bytes (for handlers that must refuse garbage)',
    generate: (i, seed) => {
      const random = mulberry32((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
      return Uint8Array.from({ length: Math.floor(random() * 256) }, () => Math.floor(random() * 256));
    },
  },
});

/**
 * True when `text` names a generator of {@link CHAOS_PAYLOADS} (rather than JSON or `@file`).
 *
 * @example
 * ```ts
 * isPayloadGeneratorName('json-bytes'); // true
 * isPayloadGeneratorName('{"a":1}');    // false
 * ```
 */
export function isPayloadGeneratorName(text: string): boolean {
  return Object.hasOwn(CHAOS_PAYLOADS, text);
}
