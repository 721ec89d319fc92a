// `cbor-x/decode` is cbor-x's plain JavaScript build on Node: unlike `cbor-x`, it never loads the
// optional native addon `cbor-extract`, so the codec is the same code wherever umdkit is installed
// (a consumer's npm picks its own cbor-extract version; the repository's `overrides` do not apply).
// Only its encoder is used: frames are decoded by our own builder, after the scanner accepted them.
import { Encoder } from 'cbor-x/decode';
import { buildItem } from './build.js';
import { ProtocolError, type ProtocolReason } from './errors.js';
import { DEFAULT_LIMITS, FRAME_HEADER_BYTES, type ProtocolLimits } from './limits.js';
import { scanItem } from './scan.js';

/**
 * One CBOR data item <-> JavaScript value, under the v1 payload policy, and the 4-byte framing.
 *
 * cbor-x encodes (it is fast); our scanner (scan.ts) decides what is allowed, before decoding on
 * the way in and after encoding on the way out, so both directions hold the same rules; our builder
 * (build.ts) makes the value of what the scanner accepted.
 */

// Plain CBOR only: no records, no tag 259 for maps, no tag 64 for byte arrays, no shared structures.
const encoder = new Encoder(({
  useRecords: false,
  mapsAsObjects: true,
  useTag259ForMaps: false,
  tagUint8Array: false,
  structuredClone: false,
  pack: false,
  // Not in cbor-x's typings, but honoured: without it, plain objects would be wrapped in tag 259.
} as ConstructorParameters<typeof Encoder>[0]));

/**
 * Scanner reasons that, on the way out, mean "this value is outside the JSON data model plus byte
 * strings" (a Date or Set becomes a tag, a Map with non-text keys a non-text key, a string with a
 * lone surrogate invalid UTF-8): `UNENCODABLE`. `TOO_DEEP`, `TOO_MANY_ITEMS` and `FORBIDDEN_KEY`
 * keep their own reason.
 */
const UNENCODABLE_REASONS: ReadonlySet<ProtocolReason> = new Set<ProtocolReason>(['TAG', 'SHARED_REF', 'UNSUPPORTED_VALUE', 'NON_TEXT_KEY', 'INVALID_UTF8']);

/** Encodes one value as a CBOR item, refusing anything the peer would refuse. */
export function encodeValue(value: unknown, limits: ProtocolLimits = DEFAULT_LIMITS): Uint8Array {
  let body: Uint8Array;
  try {
    body = encoder.encode(value);
  } catch (cause) {
    throw new ProtocolError('UNENCODABLE', `cannot encode the value: ${(cause as Error).message}`, {}, { cause });
  }
  if (body.length > limits.maxFrameBytes) {
    throw new ProtocolError('FRAME_TOO_LARGE', `message of ${body.length} bytes is over the limit of ${limits.maxFrameBytes}`);
  }
  try {
    scanItem(body, limits);
  } catch (err) {
    if (err instanceof ProtocolError && UNENCODABLE_REASONS.has(err.reason)) {
      // The sender's own value: say what it was, not where a peer would have found it.
      throw new ProtocolError('UNENCODABLE', `the value holds something outside the JSON data model plus byte strings (${err.message})`, {}, { cause: err });
    }
    throw err;
  }
  return body;
}

/**
 * Encodes `message` as one frame: a 4-byte big-endian length, then the CBOR item.
 * Throws a `ProtocolError` (`UNENCODABLE`, `FRAME_TOO_LARGE`, `TOO_DEEP`, `FORBIDDEN_KEY`...) instead
 * of sending something the peer would refuse.
 *
 * @example
 * ```ts
 * import { encodeFrame } from './codec.js';
 * child.stdin.write(encodeFrame({ t: 'req', id: 1, p: 'hello' }));
 * ```
 */
export function encodeFrame(message: unknown, limits: ProtocolLimits = DEFAULT_LIMITS): Buffer {
  const body = encodeValue(message, limits);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Decodes the body of one frame (exactly one CBOR item, nothing after it) under the v1 policy.
 * Byte strings in the result are views into `body` (no copy).
 *
 * @example
 * ```ts
 * decodeValue(Uint8Array.of(0xa1, 0x61, 0x74, 0x64, 0x70, 0x69, 0x6e, 0x67)); // { t: 'ping' }
 * ```
 */
export function decodeValue(body: Uint8Array, limits: ProtocolLimits = DEFAULT_LIMITS): unknown {
  return decodeRange(body, 0, body.length, limits);
}

/**
 * Decodes the item in `source[start, end)` (one frame body) under the v1 policy: the scanner checks
 * every byte and counts the items first, then the value is built. Byte strings in the result are
 * views into `source` (no copy).
 *
 * @example
 * ```ts
 * decodeRange(chunk, 4, 4 + length); // the frame whose 4-byte prefix starts the chunk
 * ```
 */
export function decodeRange(source: Uint8Array, start: number, end: number, limits: ProtocolLimits = DEFAULT_LIMITS): unknown {
  scanItem(source, limits, start, end);
  try {
    return buildItem(source, start);
  } catch (cause) {
    // Only the engine can refuse now (a stack overflow under a huge configured maxDepth): still the peer's frame.
    throw new ProtocolError('MALFORMED', `the item could not be built: ${(cause as Error).message}`, {}, { cause });
  }
}
