import { isUtf8 } from 'node:buffer';
import { ProtocolError } from './errors.js';
import { DEFAULT_MAX_ITEMS, type ProtocolLimits } from './limits.js';

/**
 * A byte-level walk over one CBOR data item that enforces the v1 payload policy *before* any
 * decoder sees the bytes. Why here and not after decoding: cbor-x honours some tags (27 RegExp and
 * Error, 28/29 shared references) whatever its options, and a decoded `__proto__` key may already
 * have replaced a prototype. Refusing at the byte level means hostile constructs never become values.
 *
 * The walk is iterative (an explicit stack), so hostile nesting cannot overflow the call stack, and it
 * allocates nothing (the stack is two typed arrays kept between scans); byte strings are skipped,
 * not read. Text strings are checked to be valid UTF-8 (RFC 8949 §5.3.1): a lax decoder would turn
 * every invalid sequence into U+FFFD, so two distinct keys could become one.
 *
 * It also bounds what decoding the item will cost: every data item (a map entry counts two, key and
 * value) is counted against `maxItems`, and a definite-length array or map whose declared size
 * does not fit in what is left of that budget is refused at its head, before any of its items is
 * read. Building a value costs per item (an empty map is one byte on the wire and ~64 bytes of
 * heap), so the count, not the frame size, is what bounds the heap and the time of a decode.
 */

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
  if (major === MAJOR_TEXT) checkUtf8(at, length, 'text string');
  pos += length;
}

/** Text this long or longer is checked natively (simdutf); shorter text in the loop below, which costs less than the call. */
const NATIVE_UTF8_CHECK = 64;

/**
 * Throws `INVALID_UTF8` unless `bytes[pos, pos + length)` is well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF), the text string whose head was at `at`.
 * Small on purpose (the engine inlines it): short ASCII text, nearly every key, ends in the loop.
 */
function checkUtf8(at: number, length: number, what: string): void {
  const start = pos;
  const end = start + length;
  if (length < NATIVE_UTF8_CHECK) {
    const source = bytes;
    let any = 0;
    for (let i = start; i < end; i++) any |= source[i]!;
    if (any < 0x80) return;
  }
  checkFrom(start, end, at, what);
}

/** The rest of {@link checkUtf8}: short text that is not all ASCII, or long text. */
function checkFrom(i: number, end: number, at: number, what: string): void {
  if (end - i >= NATIVE_UTF8_CHECK) {
    if (isUtf8(bytes.subarray(i, end))) return;
  } else {
    while (i < end) {
      const b = bytes[i]!;
      if (b < 0x80) {
        i++;
        continue;
      }
      // The second byte's range depends on the first (Unicode Table 3-7); later ones are 80..BF.
      let size: number;
      let low = 0x80;
      let high = 0xbf;
      if (b >= 0xc2 && b <= 0xdf) size = 2;
      else if (b >= 0xe0 && b <= 0xef) {
        size = 3;
        if (b === 0xe0) low = 0xa0; // overlong below U+0800
        else if (b === 0xed) high = 0x9f; // U+D800..U+DFFF, the surrogates
      } else if (b >= 0xf0 && b <= 0xf4) {
        size = 4;
        if (b === 0xf0) low = 0x90; // overlong below U+10000
        else if (b === 0xf4) high = 0x8f; // past U+10FFFF
      } else break; // 80..C1 (a continuation or an overlong lead), F5..FF
      if (i + size > end) break;
      const second = bytes[i + 1]!;
      if (second < low || second > high) break;
      if (size > 2 && (bytes[i + 2]! & 0xc0) !== 0x80) break;
      if (size > 3 && (bytes[i + 3]! & 0xc0) !== 0x80) break;
      i += size;
    }
    if (i === end) return;
  }
  throw new ProtocolError('INVALID_UTF8', `${what} at byte ${at - base} is not valid UTF-8 (RFC 8949 §5.3.1)`);
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
 * Checks that `bytes[start, end)` holds exactly one well-formed CBOR item within the v1 policy and
 * `limits` (`maxDepth`, `maxItems`). Throws a {@link ProtocolError} naming the reason and the
 * byte offset at fault; returns the number of data items.
 *
 * @example
 * ```ts
 * scanItem(Uint8Array.of(0xa1, 0x61, 0x74, 0x64, 0x70, 0x69, 0x6e, 0x67), DEFAULT_LIMITS); // 3
 * ```
 */
export function scanItem(source: Uint8Array, limits: Pick<ProtocolLimits, 'maxDepth' | 'maxItems'>, start = 0, end = source.length): number {
  bytes = source;
  pos = start;
  base = start;
  limit = end;
  try {
    return walk(limits.maxDepth, limits.maxItems ?? DEFAULT_MAX_ITEMS);
  } finally {
    bytes = NO_BYTES; // keep no frame alive after the scan
  }
}

function tooMany(at: number, what: string, maxItems: number): ProtocolError {
  return new ProtocolError('TOO_MANY_ITEMS', `${what} at byte ${at - base} takes the frame past ${maxItems} data items`);
}

/** Walks the item; returns the number of data items in it. */
function walk(maxDepth: number, maxItems: number): number {
  const start = base;
  let depth = 0;
  let items = 0;
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

    if (++items > maxItems) throw tooMany(at, 'a data item', maxItems);
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
      checkUtf8(at, length, 'map key');
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
          const inside = major === MAJOR_MAP ? count * 2 : count;
          // Every item takes at least one byte: a count past the frame's end is truncation, found now
          // rather than after walking a billion phantom items.
          need(inside, major === MAJOR_MAP ? 'map entries' : 'array items');
          // And a size past the item budget is refused here, before any of its items is read.
          if (items + inside > maxItems) throw tooMany(at, `${major === MAJOR_MAP ? 'a map of' : 'an array of'} ${count} ${major === MAJOR_MAP ? 'entries' : 'items'}`, maxItems);
          open(depth++, inside, major === MAJOR_MAP);
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
  return items;
}
