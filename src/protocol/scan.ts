import { ProtocolError } from './errors.js';

/**
 * A byte-level walk over one CBOR data item that enforces the v1 payload policy *before* any
 * decoder sees the bytes. Why here and not after decoding: cbor-x honours some tags (27 RegExp and
 * Error, 28/29 shared references) whatever its options, and a decoded `__proto__` key may already
 * have replaced a prototype. Refusing at the byte level means hostile constructs never become values.
 *
 * The walk is iterative (an explicit stack), so hostile nesting cannot overflow the call stack, and it
 * allocates nothing (the stack is two typed arrays kept between scans); byte strings are skipped,
 * not read.
 */

/** What the walk learned that the decoder's caller needs. */
export interface ScanFacts {
  /** True when an integer used the 8-byte form (cbor-x then yields a bigint, which is normalised). */
  int64: boolean;
  /** True when the item holds a byte string (decoded as a view into the frame, so the frame must stay). */
  byteStrings: boolean;
}

const MAJOR_UINT = 0;
const MAJOR_NINT = 1;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const MAJOR_TAG = 6;
const BREAK = 0xff;
const INDEFINITE = -1;

// `__proto__` as UTF-8, compared against definite-length text keys of length 9.
const PROTO_KEY = new Uint8Array([0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]);

// The four possible answers, made once: a scan returns one of them and allocates nothing.
const FACTS: readonly ScanFacts[] = [
  Object.freeze({ int64: false, byteStrings: false }),
  Object.freeze({ int64: true, byteStrings: false }),
  Object.freeze({ int64: false, byteStrings: true }),
  Object.freeze({ int64: true, byteStrings: true }),
];
const NO_BYTES = new Uint8Array(0);

/** Flags of an open container: it is a map; an odd number of its items was read (a key waits for its value). */
const MAP_FLAG = 1;
const ODD_FLAG = 2;

// The walk's state lives here, not in closures or objects made per call: a scan is synchronous and
// never re-entered, and the hot path (two scans per request) then allocates nothing at all.
let bytes: Uint8Array = NO_BYTES;
let pos = 0;
let base = 0;
let limit = 0;
let sawInt64 = false;
let sawBytes = false;
/** Per open container (index = depth - 1): items left to read, or INDEFINITE. */
let remaining = new Float64Array(32);
/** Per open container: MAP_FLAG | ODD_FLAG. */
let flags = new Uint8Array(32);

function need(n: number, what: string): void {
  if (pos + n > limit) {
    throw new ProtocolError('TRUNCATED', `${what} at byte ${pos - base} needs ${n} more byte(s), the frame ends first`);
  }
}

/** Reads the argument of the head whose initial byte was at `at` (`pos` points just past it). */
function readArgument(ai: number, at: number): number {
  if (ai < 24) return ai;
  switch (ai) {
    case 24:
      need(1, 'argument');
      return bytes[pos++]!;
    case 25:
      need(2, 'argument');
      pos += 2;
      return (bytes[pos - 2]! << 8) | bytes[pos - 1]!;
    case 26:
      need(4, 'argument');
      pos += 4;
      return bytes[pos - 4]! * 0x1000000 + ((bytes[pos - 3]! << 16) | (bytes[pos - 2]! << 8) | bytes[pos - 1]!);
    case 27: {
      need(8, 'argument');
      sawInt64 = true;
      const high = bytes[pos]! * 0x1000000 + ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!);
      const low = bytes[pos + 4]! * 0x1000000 + ((bytes[pos + 5]! << 16) | (bytes[pos + 6]! << 8) | bytes[pos + 7]!);
      pos += 8;
      // Exact below 2^53; above it the value only matters as a length, and any length that large
      // runs past the frame anyway.
      return high * 0x1_0000_0000 + low;
    }
    case 31:
      return INDEFINITE;
    default:
      throw new ProtocolError('MALFORMED', `reserved additional information ${ai} at byte ${at - base}`);
  }
}

function skipString(major: number, ai: number, at: number): void {
  const length = readArgument(ai, at);
  if (length === INDEFINITE) {
    // Well-formed CBOR, but chunked strings exist for streaming encoders, which frames make moot;
    // cbor-x cannot decode them either. Refused with a reason rather than half-supported.
    throw new ProtocolError('UNSUPPORTED_VALUE', `indefinite-length ${major === MAJOR_TEXT ? 'text' : 'byte'} string at byte ${at - base}`);
  }
  need(length, major === MAJOR_TEXT ? 'text string' : 'byte string');
  if (major === MAJOR_BYTES) sawBytes = true;
  pos += length;
}

function isProtoKey(at: number): boolean {
  for (let i = 0; i < PROTO_KEY.length; i++) {
    if (bytes[at + i] !== PROTO_KEY[i]) return false;
  }
  return true;
}

/** Opens a container at `depth` (growing the stacks when nesting is deeper than ever before). */
function open(depth: number, items: number, map: boolean): void {
  if (depth === remaining.length) {
    const grownRemaining = new Float64Array(depth * 2);
    grownRemaining.set(remaining);
    const grownFlags = new Uint8Array(depth * 2);
    grownFlags.set(flags);
    remaining = grownRemaining;
    flags = grownFlags;
  }
  remaining[depth] = items;
  flags[depth] = map ? MAP_FLAG : 0;
}

/**
 * Checks that `bytes[start, end)` holds exactly one well-formed CBOR item within the v1 policy.
 * Throws a {@link ProtocolError} naming the reason and the byte offset at fault.
 *
 * @example
 * ```ts
 * scanItem(Uint8Array.of(0xa1, 0x61, 0x74, 0x64, 0x70, 0x69, 0x6e, 0x67), 64); // { int64: false, byteStrings: false }
 * ```
 */
export function scanItem(source: Uint8Array, maxDepth: number, start = 0, end = source.length): ScanFacts {
  bytes = source;
  pos = start;
  base = start;
  limit = end;
  sawInt64 = false;
  sawBytes = false;
  try {
    walk(maxDepth);
  } finally {
    bytes = NO_BYTES; // keep no frame alive after the scan
  }
  return FACTS[(sawInt64 ? 1 : 0) + (sawBytes ? 2 : 0)]!;
}

function walk(maxDepth: number): void {
  const start = base;
  let depth = 0;
  for (;;) {
    // Close every container whose items are all read.
    while (depth > 0 && remaining[depth - 1] === 0) depth--;
    if (depth === 0 && pos > start) break; // the one top-level item is complete

    need(1, 'data item');
    const at = pos;
    const initial = bytes[pos++]!;

    if (initial === BREAK) {
      if (depth === 0 || remaining[depth - 1] !== INDEFINITE) {
        throw new ProtocolError('MALFORMED', `unexpected break at byte ${at - start}`);
      }
      if (flags[depth - 1] === (MAP_FLAG | ODD_FLAG)) {
        throw new ProtocolError('MALFORMED', `break after a map key without its value at byte ${at - start}`);
      }
      depth--;
      continue;
    }

    const major = initial >> 5;
    const ai = initial & 0x1f;
    const topLevel = depth === 0;
    let isKey = false;
    if (!topLevel) {
      const top = depth - 1;
      const flag = flags[top]!;
      isKey = flag === MAP_FLAG; // a map, and an even number of its items read so far
      flags[top] = flag ^ ODD_FLAG;
      if (remaining[top] !== INDEFINITE) remaining[top]!--;
    }

    if (isKey) {
      if (major !== MAJOR_TEXT || ai === 31) {
        throw new ProtocolError('NON_TEXT_KEY', `map key at byte ${at - start} is not a definite-length text string (major type ${major})`);
      }
      const length = readArgument(ai, at);
      need(length, 'text string');
      if (length === PROTO_KEY.length && isProtoKey(pos)) {
        throw new ProtocolError('FORBIDDEN_KEY', `map key "__proto__" at byte ${at - start}`);
      }
      pos += length;
      continue;
    }

    switch (major) {
      case MAJOR_UINT:
      case MAJOR_NINT:
        if (ai === 31) throw new ProtocolError('MALFORMED', `indefinite length on an integer at byte ${at - start}`);
        readArgument(ai, at);
        break;
      case MAJOR_BYTES:
      case MAJOR_TEXT:
        skipString(major, ai, at);
        break;
      case MAJOR_ARRAY:
      case MAJOR_MAP: {
        if (depth >= maxDepth) {
          throw new ProtocolError('TOO_DEEP', `nesting deeper than ${maxDepth} at byte ${at - start}`);
        }
        const count = readArgument(ai, at);
        if (count === INDEFINITE) {
          open(depth++, INDEFINITE, major === MAJOR_MAP);
        } else {
          const items = major === MAJOR_MAP ? count * 2 : count;
          // Every item takes at least one byte: a count past the frame's end is truncation, found now
          // rather than after walking a billion phantom items.
          need(items, major === MAJOR_MAP ? 'map entries' : 'array items');
          open(depth++, items, major === MAJOR_MAP);
        }
        break;
      }
      case MAJOR_TAG: {
        if (ai === 31) throw new ProtocolError('MALFORMED', `indefinite length on a tag at byte ${at - start}`);
        const tag = readArgument(ai, at);
        if (tag === 28 || tag === 29) {
          throw new ProtocolError('SHARED_REF', `tag ${tag} (shared value/reference) at byte ${at - start}`);
        }
        throw new ProtocolError('TAG', `tag ${tag} at byte ${at - start}; payloads carry no tags`);
      }
      default: {
        // Major type 7: simple values and floats.
        if (ai >= 20 && ai <= 23) break; // false, true, null, undefined
        if (ai === 25 || ai === 26 || ai === 27) {
          const size = ai === 25 ? 2 : ai === 26 ? 4 : 8;
          need(size, 'float');
          pos += size;
          break;
        }
        if (ai === 24) {
          need(1, 'simple value');
          const value = bytes[pos++]!;
          if (value < 32) throw new ProtocolError('MALFORMED', `two-byte simple value ${value} below 32 at byte ${at - start}`);
          throw new ProtocolError('UNSUPPORTED_VALUE', `simple value ${value} at byte ${at - start}`);
        }
        if (ai >= 28) throw new ProtocolError('MALFORMED', `reserved additional information ${ai} at byte ${at - start}`);
        throw new ProtocolError('UNSUPPORTED_VALUE', `simple value ${ai} at byte ${at - start}`);
      }
    }
    if (topLevel && depth === 0) break; // a top-level scalar or string
  }

  if (pos !== limit) {
    throw new ProtocolError('TRAILING_BYTES', `${limit - pos} byte(s) after the data item (frame of ${limit - start} bytes)`);
  }
}
