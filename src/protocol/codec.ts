// `cbor-x/decode` is cbor-x's plain JavaScript build on Node: unlike `cbor-x`, it never loads the
// optional native addon `cbor-extract`, so the codec is the same code wherever umdkit is installed
// (a consumer's npm picks its own cbor-extract version; the repository's `overrides` do not apply).
import { Decoder, Encoder } from 'cbor-x/decode';
import { ProtocolError, type ProtocolReason } from './errors.js';
import { DEFAULT_LIMITS, FRAME_HEADER_BYTES, type ProtocolLimits } from './limits.js';
import { scanItem } from './scan.js';

/**
 * One CBOR data item <-> JavaScript value, under the v1 payload policy, and the 4-byte framing.
 *
 * cbor-x does the byte work (it is fast); our scanner (scan.ts) decides what is allowed, before
 * decoding on the way in and after encoding on the way out, so both directions hold the same rules.
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
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, structuredClone: false });
// cbor-x's decode takes an optional end offset (honoured, not in its typings): decode(source, end).
const decodeUpTo = decoder as unknown as { decode(source: Uint8Array, end?: number): unknown };

/**
 * Scanner reasons that, on the way out, mean "this value is outside the JSON data model plus byte
 * strings" (a Date or Set becomes a tag, a Map with non-text keys a non-text key): `UNENCODABLE`.
 * `TOO_DEEP` and `FORBIDDEN_KEY` keep their own reason.
 */
const UNENCODABLE_REASONS: ReadonlySet<ProtocolReason> = new Set<ProtocolReason>(['TAG', 'SHARED_REF', 'UNSUPPORTED_VALUE', 'NON_TEXT_KEY']);

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
    scanItem(body, limits.maxDepth);
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

/** Items up to this size without byte strings are decoded from {@link scratch}. */
const SCRATCH_BYTES = 4096;
/**
 * Where small items without byte strings are decoded. cbor-x needs a buffer that starts at the
 * item, and for each new one it also makes (and attaches) a DataView: two objects per frame. An
 * item without byte strings leaves no reference into its bytes in the decoded value, so it can be
 * copied here first — a few dozen bytes — and decoded from one buffer whose DataView is made once.
 */
const scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);

/**
 * Decodes the item in `source[start, end)` (one frame body) under the v1 policy, without a view
 * per frame when the item is small and holds no byte strings. Byte strings in the result are views
 * into `source` (no copy).
 *
 * @example
 * ```ts
 * decodeRange(chunk, 4, 4 + length); // the frame whose 4-byte prefix starts the chunk
 * ```
 */
export function decodeRange(source: Uint8Array, start: number, end: number, limits: ProtocolLimits = DEFAULT_LIMITS): unknown {
  const facts = scanItem(source, limits.maxDepth, start, end);
  const length = end - start;
  let value: unknown;
  try {
    if (!facts.byteStrings && length <= SCRATCH_BYTES) {
      if (length <= 256) {
        for (let i = 0; i < length; i++) scratch[i] = source[start + i]!;
      } else {
        scratch.set(source.subarray(start, end));
      }
      value = decodeUpTo.decode(scratch, length);
    } else {
      value = decoder.decode(start === 0 && end === source.length ? source : source.subarray(start, end));
    }
  } catch (cause) {
    // The scanner accepted it, so this is a decoder limit (for example a huge map): still the peer's fault.
    throw new ProtocolError('MALFORMED', `CBOR decoder refused the item: ${(cause as Error).message}`, {}, { cause });
  }
  return facts.int64 ? normaliseIntegers(value) : value;
}

/**
 * cbor-x yields a bigint for every 8-byte integer, even a small one. Payloads follow the JSON data
 * model, so integers that fit a double exactly become numbers; larger ones stay bigint (lossless).
 */
function normaliseIntegers(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = normaliseIntegers(value[i]);
    return value;
  }
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = normaliseIntegers(record[key]);
  }
  return value;
}
