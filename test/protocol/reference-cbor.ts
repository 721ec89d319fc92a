/**
 * An independent CBOR decoder and encoder for differential tests, written from RFC 8949 alone and
 * sharing no code with src/protocol: recursive where the scanner is iterative, DataView and a
 * fatal TextDecoder where the builder reads bytes by hand. It applies the same v1 policy (no tags,
 * text keys only, no `__proto__`, depth and item limits, no indefinite strings, valid UTF-8) so
 * that for any bytes both must agree: the same value, or both a refusal.
 */

/** Thrown for anything the v1 policy refuses; `reason` names the rule. */
export class Refused extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

interface Limits {
  maxDepth: number;
  maxItems: number;
}

/** Decodes exactly one item filling `bytes`, or throws {@link Refused}. */
export function referenceDecode(bytes: Uint8Array, limits: Limits): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  let items = 0;

  const need = (n: number | bigint) => {
    if (BigInt(at) + BigInt(n) > BigInt(bytes.length)) throw new Refused('TRUNCATED');
  };
  const u8 = () => {
    need(1);
    return bytes[at++]!;
  };
  /** The argument as a bigint (exact for every width), or null for indefinite. */
  const arg = (info: number): bigint | null => {
    if (info < 24) return BigInt(info);
    if (info === 24) return BigInt(u8());
    if (info === 25) {
      need(2);
      at += 2;
      return BigInt(view.getUint16(at - 2));
    }
    if (info === 26) {
      need(4);
      at += 4;
      return BigInt(view.getUint32(at - 4));
    }
    if (info === 27) {
      need(8);
      at += 8;
      return view.getBigUint64(at - 8);
    }
    if (info === 31) return null;
    throw new Refused('MALFORMED');
  };
  const integer = (n: bigint): number | bigint => (n >= -(2n ** 53n - 1n) && n <= 2n ** 53n - 1n ? Number(n) : n);
  const count = () => {
    items++;
    if (items > limits.maxItems) throw new Refused('TOO_MANY_ITEMS');
  };

  const item = (depth: number, isKey: boolean): unknown => {
    const initial = u8();
    if (initial === 0xff) throw new Refused('MALFORMED'); // a break where an item belongs
    count();
    const major = initial >> 5;
    const info = initial & 31;
    if (isKey && (major !== 3 || info === 31)) throw new Refused('NON_TEXT_KEY');
    switch (major) {
      case 0:
      case 1: {
        if (info === 31) throw new Refused('MALFORMED');
        const n = arg(info)!;
        return integer(major === 0 ? n : -1n - n);
      }
      case 2:
      case 3: {
        const length = arg(info);
        if (length === null) throw new Refused('UNSUPPORTED_VALUE');
        need(length);
        const start = at;
        at += Number(length);
        if (major === 2) return bytes.slice(start, at);
        let text: string;
        try {
          text = utf8.decode(bytes.subarray(start, at));
        } catch {
          throw new Refused('INVALID_UTF8');
        }
        if (isKey && text === '__proto__') throw new Refused('FORBIDDEN_KEY');
        return text;
      }
      case 4:
      case 5: {
        if (depth >= limits.maxDepth) throw new Refused('TOO_DEEP');
        const length = arg(info);
        const isMap = major === 5;
        const out: unknown[] = [];
        const record: Record<string, unknown> = {};
        const one = () => {
          if (isMap) {
            const k = item(depth + 1, true) as string;
            record[k] = item(depth + 1, false);
          } else {
            out.push(item(depth + 1, false));
          }
        };
        if (length === null) {
          for (;;) {
            need(1);
            if (bytes[at] === 0xff) {
              at++;
              break;
            }
            one();
          }
        } else {
          for (let i = 0n; i < length; i++) one();
        }
        return isMap ? record : out;
      }
      case 6:
        if (info === 31) throw new Refused('MALFORMED');
        throw new Refused(arg(info) === 28n || arg(info) === 29n ? 'SHARED_REF' : 'TAG');
      default:
        switch (info) {
          case 20:
            return false;
          case 21:
            return true;
          case 22:
            return null;
          case 23:
            return undefined;
          case 24:
            throw new Refused(u8() < 32 ? 'MALFORMED' : 'UNSUPPORTED_VALUE');
          case 25: {
            need(2);
            at += 2;
            return half(view.getUint16(at - 2));
          }
          case 26:
            need(4);
            at += 4;
            return view.getFloat32(at - 4);
          case 27:
            need(8);
            at += 8;
            return view.getFloat64(at - 8);
          case 28:
          case 29:
          case 30:
          case 31:
            throw new Refused('MALFORMED');
          default:
            throw new Refused('UNSUPPORTED_VALUE');
        }
    }
  };

  const value = item(0, false);
  if (at !== bytes.length) throw new Refused('TRAILING_BYTES');
  return value;
}

/** binary16 -> number by widening the bits to binary32 (another route than the spec's formula). */
function half(bits: number): number {
  const sign = bits >> 15;
  const exponent = (bits >> 10) & 31;
  const fraction = bits & 1023;
  if (exponent === 0) return (sign ? -1 : 1) * fraction * 2 ** -24;
  const wide = new DataView(new ArrayBuffer(4));
  const e32 = exponent === 31 ? 255 : exponent - 15 + 127;
  wide.setUint32(0, ((sign << 31) | (e32 << 23) | (fraction << 13)) >>> 0);
  return wide.getFloat32(0);
}

/** How the encoder writes one head: shortest, or wider than needed (any width is valid). */
export type Width = 'shortest' | 1 | 2 | 4 | 8;

/**
 * Encodes `value` with the head widths `widthOf` picks (cycling), definite or indefinite arrays and
 * maps as `indefinite` says: many valid spellings of one value.
 */
export function referenceEncode(value: unknown, choose: { width: () => Width; indefinite: () => boolean }): Uint8Array {
  const out: number[] = [];
  const head = (major: number, n: bigint) => {
    let width = choose.width();
    const fits = (w: number) => n < 2n ** BigInt(8 * w);
    if (width === 'shortest' || !fits(width)) width = n < 24n ? 'shortest' : fits(1) ? 1 : fits(2) ? 2 : fits(4) ? 4 : 8;
    if (width === 'shortest') {
      out.push((major << 5) | Number(n));
      return;
    }
    out.push((major << 5) | { 1: 24, 2: 25, 4: 26, 8: 27 }[width]);
    for (let i = width - 1; i >= 0; i--) out.push(Number((n >> BigInt(8 * i)) & 0xffn));
  };
  const encode = (v: unknown): void => {
    if (v === false) out.push(0xf4);
    else if (v === true) out.push(0xf5);
    else if (v === null) out.push(0xf6);
    else if (v === undefined) out.push(0xf7);
    else if (typeof v === 'bigint') v >= 0n ? head(0, v) : head(1, -1n - v);
    else if (typeof v === 'number') {
      if (Number.isInteger(v) && !Object.is(v, -0)) {
        v >= 0 ? head(0, BigInt(v)) : head(1, -1n - BigInt(v));
      } else {
        const bytes = new DataView(new ArrayBuffer(8));
        bytes.setFloat64(0, v);
        out.push(0xfb, ...new Uint8Array(bytes.buffer));
      }
    } else if (typeof v === 'string') {
      const bytes = new TextEncoder().encode(v);
      head(3, BigInt(bytes.length));
      out.push(...bytes);
    } else if (v instanceof Uint8Array) {
      head(2, BigInt(v.length));
      out.push(...v);
    } else if (Array.isArray(v)) {
      const open = choose.indefinite();
      if (open) out.push(0x9f);
      else head(4, BigInt(v.length));
      v.forEach(encode);
      if (open) out.push(0xff);
    } else {
      const entries = Object.entries(v as object);
      const open = choose.indefinite();
      if (open) out.push(0xbf);
      else head(5, BigInt(entries.length));
      for (const [k, x] of entries) {
        encode(k);
        encode(x);
      }
      if (open) out.push(0xff);
    }
  };
  encode(value);
  return Uint8Array.from(out);
}
