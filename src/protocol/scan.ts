import { ProtocolError } from './errors.js';

/**
 * A byte-level walk over one CBOR data item that enforces the v1 payload policy *before* any
 * decoder sees the bytes. Why here and not after decoding: cbor-x honours some tags (27 RegExp and
 * Error, 28/29 shared references) whatever its options, and a decoded `__proto__` key may already
 * have replaced a prototype. Refusing at the byte level means hostile constructs never become values.
 *
 * The walk is iterative (an explicit stack), so hostile nesting cannot overflow the call stack, and it
 * allocates nothing per item; byte strings are skipped, not read.
 */

/** What the walk learned that the decoder's caller needs. */
export interface ScanFacts {
  /** True when an integer used the 8-byte form (cbor-x then yields a bigint, which is normalised). */
  int64: boolean;
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

/** An open array or map: how many items remain (or INDEFINITE), and whether it is a map. */
interface Open {
  remaining: number;
  map: boolean;
  /** Items read so far inside this container; in a map, even positions are keys. */
  seen: number;
}

/**
 * Checks that `bytes[start, end)` holds exactly one well-formed CBOR item within the v1 policy.
 * Throws a {@link ProtocolError} naming the reason and the byte offset at fault.
 */
export function scanItem(bytes: Uint8Array, maxDepth: number, start = 0, end = bytes.length): ScanFacts {
  const stack: Open[] = [];
  const facts: ScanFacts = { int64: false };
  let pos = start;

  const need = (n: number, what: string): void => {
    if (pos + n > end) {
      throw new ProtocolError('TRUNCATED', `${what} at byte ${pos - start} needs ${n} more byte(s), the frame ends first`);
    }
  };

  // Reads the argument of the head at `pos` (which points just past the initial byte).
  const readArgument = (ai: number, at: number): number => {
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
        facts.int64 = true;
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
        throw new ProtocolError('MALFORMED', `reserved additional information ${ai} at byte ${at - start}`);
    }
  };

  const skipString = (major: number, ai: number, at: number): void => {
    const length = readArgument(ai, at);
    if (length === INDEFINITE) {
      // Well-formed CBOR, but chunked strings exist for streaming encoders, which frames make moot;
      // cbor-x cannot decode them either. Refused with a reason rather than half-supported.
      throw new ProtocolError('UNSUPPORTED_VALUE', `indefinite-length ${major === MAJOR_TEXT ? 'text' : 'byte'} string at byte ${at - start}`);
    }
    need(length, major === MAJOR_TEXT ? 'text string' : 'byte string');
    pos += length;
  };

  for (;;) {
    // Close every container whose items are all read.
    let top = stack[stack.length - 1];
    while (top !== undefined && top.remaining === 0) {
      stack.pop();
      top = stack[stack.length - 1];
    }
    if (top === undefined && pos > start) break; // the one top-level item is complete

    need(1, 'data item');
    const at = pos;
    const initial = bytes[pos++]!;

    if (initial === BREAK) {
      if (top === undefined || top.remaining !== INDEFINITE) {
        throw new ProtocolError('MALFORMED', `unexpected break at byte ${at - start}`);
      }
      if (top.map && top.seen % 2 !== 0) {
        throw new ProtocolError('MALFORMED', `break after a map key without its value at byte ${at - start}`);
      }
      stack.pop();
      continue;
    }

    const major = initial >> 5;
    const ai = initial & 0x1f;
    const isKey = top !== undefined && top.map && top.seen % 2 === 0;
    if (top !== undefined) {
      top.seen++;
      if (top.remaining !== INDEFINITE) top.remaining--;
    }

    if (isKey) {
      if (major !== MAJOR_TEXT || ai === 31) {
        throw new ProtocolError('NON_TEXT_KEY', `map key at byte ${at - start} is not a definite-length text string (major type ${major})`);
      }
      const length = readArgument(ai, at);
      need(length, 'text string');
      if (length === PROTO_KEY.length && PROTO_KEY.every((b, i) => bytes[pos + i] === b)) {
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
        if (stack.length >= maxDepth) {
          throw new ProtocolError('TOO_DEEP', `nesting deeper than ${maxDepth} at byte ${at - start}`);
        }
        const count = readArgument(ai, at);
        if (count === INDEFINITE) {
          stack.push({ remaining: INDEFINITE, map: major === MAJOR_MAP, seen: 0 });
        } else {
          const items = major === MAJOR_MAP ? count * 2 : count;
          // Every item takes at least one byte: a count past the frame's end is truncation, found now
          // rather than after walking a billion phantom items.
          need(items, major === MAJOR_MAP ? 'map entries' : 'array items');
          stack.push({ remaining: items, map: major === MAJOR_MAP, seen: 0 });
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
    if (stack.length === 0 && top === undefined) break; // a top-level scalar or string
  }

  if (pos !== end) {
    throw new ProtocolError('TRAILING_BYTES', `${end - pos} byte(s) after the data item (frame of ${end - start} bytes)`);
  }
  return facts;
}
