/** Default and hard limits of wire protocol v1. */

/** Protocol version spoken by this package (the `v` of `hello`). */
export const PROTOCOL_VERSION = 1;

/** Default largest frame body in bytes (16 MiB); configurable per driver. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** The largest `maxFrameBytes` anyone may configure: the 4-byte length prefix cannot say more. */
export const MAX_FRAME_BYTES_LIMIT = 0xffff_ffff;

/** Default deepest nesting of arrays and maps accepted in one message. */
export const DEFAULT_MAX_DEPTH = 64;

/**
 * Default most data items in one message (every array element, map key and map value counts).
 * Decoding costs per item, not per byte: one byte (`a0`, an empty map) becomes ~64 bytes of heap.
 * This bound keeps the worst frame's decode to a small multiple of the default frame size in heap
 * and a fraction of a second of event-loop time (docs/PROTOCOL.md §7 has the measured figures).
 */
export const DEFAULT_MAX_ITEMS = 262_144;

/**
 * Default budget, per driver, of answer bytes held half-read at once across its instances (64 MiB,
 * four default frames). A frame larger than the budget is still read, alone.
 */
export const DEFAULT_DECODE_BUDGET_BYTES = 64 * 1024 * 1024;

/** Size of the big-endian length prefix in front of every frame. */
export const FRAME_HEADER_BYTES = 4;

/** Limits a codec enforces. */
export interface ProtocolLimits {
  /** Largest frame body accepted or produced, in bytes. */
  maxFrameBytes: number;
  /** Deepest nesting of arrays and maps accepted or produced. */
  maxDepth: number;
  /** Most data items in one message accepted or produced (default {@link DEFAULT_MAX_ITEMS}). */
  maxItems?: number;
}

/** The defaults, frozen. */
export const DEFAULT_LIMITS: Readonly<Required<ProtocolLimits>> = Object.freeze({
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxDepth: DEFAULT_MAX_DEPTH,
  maxItems: DEFAULT_MAX_ITEMS,
});
