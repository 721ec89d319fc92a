import { UmdError, type UmdErrorDetails } from '../errors.js';

/**
 * Why a frame or message was refused. A closed set: each reason has its own test.
 *
 * - `EMPTY_FRAME`: a length prefix of 0 (a frame holds exactly one data item, so at least 1 byte).
 * - `FRAME_TOO_LARGE`: a length prefix above `maxFrameBytes` (detected before any allocation).
 * - `TRUNCATED`: the stream ended inside a frame, or a data item runs past the end of its frame.
 * - `MALFORMED`: bytes that are not well-formed CBOR (reserved additional info, a stray break, ...).
 * - `TRAILING_BYTES`: the frame holds bytes after its one data item.
 * - `TAG`: a CBOR tag (major type 6); payloads are the JSON data model plus byte strings.
 * - `SHARED_REF`: tag 28/29 (shared values and references), which could build cycles.
 * - `NON_TEXT_KEY`: a map key that is not a definite-length text string.
 * - `FORBIDDEN_KEY`: the key `__proto__`, which could replace an object's prototype.
 * - `TOO_DEEP`: nesting of arrays and maps past `maxDepth`.
 * - `TOO_MANY_ITEMS`: more data items in one frame than `maxItems` (decoding cost is per item).
 * - `INVALID_UTF8`: a text string (or map key) that is not well-formed UTF-8 (RFC 8949 §5.3.1).
 * - `UNSUPPORTED_VALUE`: a simple value other than false, true, null and undefined, or an
 *   indefinite-length (chunked) string.
 * - `BAD_MESSAGE`: a well-formed value that is not a valid v1 message (wrong `t`, missing field...).
 * - `UNENCODABLE`: a value the sender cannot put on the wire (a cycle, a Date, a function...).
 */
export const PROTOCOL_REASONS = [
  'EMPTY_FRAME',
  'FRAME_TOO_LARGE',
  'TRUNCATED',
  'MALFORMED',
  'TRAILING_BYTES',
  'TAG',
  'SHARED_REF',
  'NON_TEXT_KEY',
  'FORBIDDEN_KEY',
  'TOO_DEEP',
  'TOO_MANY_ITEMS',
  'INVALID_UTF8',
  'UNSUPPORTED_VALUE',
  'BAD_MESSAGE',
  'UNENCODABLE',
] as const;

/** One of {@link PROTOCOL_REASONS}. */
export type ProtocolReason = (typeof PROTOCOL_REASONS)[number];

/**
 * A `UmdError` with code `PROTOCOL` and a `reason` from a closed set.
 *
 * @example
 * ```ts
 * try { decoder.push(chunk); }
 * catch (err) { if (err instanceof ProtocolError && err.reason === 'FRAME_TOO_LARGE') closeConnection(); }
 * ```
 */
export class ProtocolError extends UmdError {
  override readonly name = 'ProtocolError';
  readonly reason: ProtocolReason;

  constructor(reason: ProtocolReason, message: string, details: UmdErrorDetails = {}, options?: { cause?: unknown }) {
    super('PROTOCOL', `${reason}: ${message}`, { ...details, reason }, options);
    this.reason = reason;
  }
}
