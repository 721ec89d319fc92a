/**
 * Builds the JavaScript value of one CBOR item that the scanner (scan.ts) has already accepted.
 *
 * Why our own and not cbor-x's decoder: cbor-x's native string extractor (cbor-extract) refused
 * valid frames (a non-ASCII text string followed by one whose length used the 8-byte head), its
 * JavaScript path replaces invalid UTF-8 with U+FFFD and drops a leading U+FEFF from long strings
 * (two distinct keys could become one), and its work per item is not ours to bound. The scanner
 * has checked everything — well-formedness, the v1 policy, UTF-8, depth, the item budget — so this
 * walk only builds: it trusts the bytes it is given and must never be called on unscanned ones.
 */

const NO_BYTES = new Uint8Array(0);

// The walk's state (a build is synchronous and never re-entered), as in the scanner.
let src: Uint8Array = NO_BYTES;
let pos = 0;

/** Turns the bytes of a text string into a string; valid UTF-8 in, so no replacement ever happens. */
const utf8Slice = (Buffer.prototype as unknown as { utf8Slice(this: Uint8Array, start: number, end: number): string }).utf8Slice;
const fromCharCode = String.fromCharCode;

// Floats are read by writing their bits, as 32-bit words in the machine's order, over these.
const float64 = new Float64Array(1);
const float32 = new Float32Array(1);
const float64Words = new Uint32Array(float64.buffer);
const float32Word = new Uint32Array(float32.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Where the high and the low word of a double go in {@link float64Words}. */
const HIGH_WORD = LITTLE_ENDIAN ? 1 : 0;
const LOW_WORD = 1 - HIGH_WORD;

/** 2^53 - 1 split as the 8-byte head reads it: the high 32 bits of the largest safe integer. */
const SAFE_HIGH = 0x1f_ffff;

/**
 * Short ASCII map keys are looked up here (by a hash of their bytes) so that the same key in many
 * maps is one string: no string is made per key, and V8 finds the property by identity.
 */
const KEY_CACHE_SIZE = 4096;
const MAX_CACHED_KEY = 24;
const keyCache: (string | undefined)[] = new Array<string | undefined>(KEY_CACHE_SIZE).fill(undefined);

/**
 * The value of the item at `source[start, end)`, which {@link scanItem} accepted. Byte strings are
 * views into `source` (no copy); 8-byte integers beyond ±(2^53 − 1) are bigints.
 *
 * @example
 * ```ts
 * scanItem(body, limits);              // throws on anything not allowed
 * const value = buildItem(body, 0);    // { t: 'ping', id: 1 }
 * ```
 */
export function buildItem(source: Uint8Array, start: number): unknown {
  src = source;
  pos = start;
  try {
    return read();
  } finally {
    src = NO_BYTES; // keep no frame alive after the build
  }
}

/** Reads the argument of a head whose initial byte had additional information `ai` (< 28, not 31). */
function argument(ai: number): number {
  if (ai < 24) return ai;
  const at = pos;
  switch (ai) {
    case 24:
      pos += 1;
      return src[at]!;
    case 25:
      pos += 2;
      return (src[at]! << 8) | src[at + 1]!;
    case 26:
      pos += 4;
      return src[at]! * 0x1000000 + ((src[at + 1]! << 16) | (src[at + 2]! << 8) | src[at + 3]!);
    default: {
      // 27, as a length: the scanner has checked it fits in the frame, so it is below 2^32.
      pos += 8;
      return uint32(at) * 0x1_0000_0000 + uint32(at + 4);
    }
  }
}

function uint32(at: number): number {
  return src[at]! * 0x1000000 + ((src[at + 1]! << 16) | (src[at + 2]! << 8) | src[at + 3]!);
}

function read(): unknown {
  const initial = src[pos++]!;
  const major = initial >> 5;
  const ai = initial & 0x1f;
  switch (major) {
    case 0:
      return ai === 27 ? int64(false) : argument(ai);
    case 1:
      return ai === 27 ? int64(true) : -1 - argument(ai);
    case 2: {
      const length = argument(ai);
      const start = pos;
      pos += length;
      return src.subarray(start, pos);
    }
    case 3:
      return text(argument(ai));
    case 4:
      return ai === 31 ? indefiniteArray() : array(argument(ai));
    case 5:
      return ai === 31 ? indefiniteMap() : map(argument(ai));
    default:
      return simple(ai);
  }
}

/**
 * An integer in the 8-byte form: a number when it lies within ±(2^53 − 1) (payloads follow the
 * JSON data model, whatever width the sender chose), an exact bigint beyond.
 */
function int64(negative: boolean): number | bigint {
  const high = uint32(pos);
  const low = uint32(pos + 4);
  pos += 8;
  // Safe when the magnitude (n for a uint, n + 1 for a negative -1 - n) is at most 2^53 - 1.
  if (high < SAFE_HIGH || (high === SAFE_HIGH && (negative ? low < 0xffff_ffff : true))) {
    const n = high * 0x1_0000_0000 + low;
    return negative ? -1 - n : n;
  }
  const n = (BigInt(high) << 32n) | BigInt(low);
  return negative ? -1n - n : n;
}

function text(length: number): string {
  if (length === 0) return '';
  const start = pos;
  pos += length;
  if (length <= SHORT_TEXT) {
    // Short ASCII text: made in JavaScript, which costs less than crossing into native code.
    let ascii = 0;
    for (let i = start; i < pos; i++) ascii |= src[i]!;
    if (ascii < 0x80) return shortAscii(start, length);
  }
  return utf8Slice.call(src, start, pos);
}

/** Text up to this many bytes, all ASCII, is made from its character codes. */
const SHORT_TEXT = 16;

function shortAscii(at: number, length: number): string {
  const s = src;
  if (length > 8) {
    const head = fromCharCode(s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!, s[at + 4]!, s[at + 5]!, s[at + 6]!, s[at + 7]!);
    return head + shortAscii(at + 8, length - 8);
  }
  switch (length) {
    case 1:
      return fromCharCode(s[at]!);
    case 2:
      return fromCharCode(s[at]!, s[at + 1]!);
    case 3:
      return fromCharCode(s[at]!, s[at + 1]!, s[at + 2]!);
    case 4:
      return fromCharCode(s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!);
    case 5:
      return fromCharCode(s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!, s[at + 4]!);
    case 6:
      return fromCharCode(s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!, s[at + 4]!, s[at + 5]!);
    case 7:
      return fromCharCode(s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!, s[at + 4]!, s[at + 5]!, s[at + 6]!);
    default:
      return fromCharCode(s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!, s[at + 4]!, s[at + 5]!, s[at + 6]!, s[at + 7]!);
  }
}

/** A map key: a definite-length text string (the scanner refused anything else). */
function key(): string {
  const length = argument(src[pos++]! & 0x1f);
  if (length === 0 || length > MAX_CACHED_KEY) return text(length);
  const start = pos;
  // The slot: the length and the first two bytes, as cheap as a hash can be; a clash only costs a miss.
  const slot = ((length << 5) ^ ((src[start]! << 8) | (length > 1 ? src[start + 1]! : 0))) & (KEY_CACHE_SIZE - 1);
  const cached = keyCache[slot];
  if (cached !== undefined && cached.length === length) {
    // Cached keys are ASCII, so equal character codes mean equal bytes.
    let i = 0;
    while (i < length && cached.charCodeAt(i) === src[start + i]) i++;
    if (i === length) {
      pos += length;
      return cached;
    }
  }
  const made = text(length);
  if (made.length === length) keyCache[slot] = made; // ASCII exactly when one byte per character
  return made;
}

function array(length: number): unknown[] {
  const out = new Array<unknown>(length);
  for (let i = 0; i < length; i++) out[i] = read();
  return out;
}

function indefiniteArray(): unknown[] {
  const out: unknown[] = [];
  while (src[pos] !== 0xff) out.push(read());
  pos++;
  return out;
}

function map(entries: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // A repeated key keeps its last value (the scanner refused `__proto__`, the one key that is not data).
  for (let i = 0; i < entries; i++) out[key()] = read();
  return out;
}

function indefiniteMap(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  while (src[pos] !== 0xff) out[key()] = read();
  pos++;
  return out;
}

/** Major type 7: the scanner let through only false, true, null, undefined and floats. */
function simple(ai: number): unknown {
  switch (ai) {
    case 20:
      return false;
    case 21:
      return true;
    case 22:
      return null;
    case 23:
      return undefined;
    case 25: {
      const half = (src[pos]! << 8) | src[pos + 1]!;
      pos += 2;
      return halfFloat(half);
    }
    case 26:
      float32Word[0] = uint32(pos);
      pos += 4;
      return float32[0]!;
    default:
      float64Words[HIGH_WORD] = uint32(pos);
      float64Words[LOW_WORD] = uint32(pos + 4);
      pos += 8;
      return float64[0]!;
  }
}

/** IEEE 754 binary16 (RFC 8949 Appendix D). */
function halfFloat(half: number): number {
  const exponent = (half >> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  let value: number;
  if (exponent === 0) value = mantissa * 2 ** -24;
  else if (exponent !== 31) value = (mantissa + 1024) * 2 ** (exponent - 25);
  else value = mantissa === 0 ? Infinity : NaN;
  return half & 0x8000 ? -value : value;
}
