import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { decodeValue, encodeValue, ProtocolError, type ProtocolReason } from '../../src/protocol/index.js';
import { hex, thrownBy, toHex } from './helpers.js';

/**
 * RFC 8949 Appendix A test vectors, run against `decodeValue`. The vectors are kept in this
 * repository (fixtures/appendix_a.json, the file of the cbor/test-vectors project), so a fresh
 * clone runs this test with nothing beside it.
 */
const VECTORS_URL = new URL('./fixtures/appendix_a.json', import.meta.url);
const RAW_TEXT = readFileSync(VECTORS_URL, 'utf8');

interface Vector {
  hex: string;
  cbor: string;
  roundtrip: boolean;
  decoded?: unknown;
  diagnostic?: string;
}
const VECTORS = JSON.parse(RAW_TEXT) as Vector[];

type Outcome = { value: unknown } | { reason: ProtocolReason; why: string };
const ok = (value: unknown): Outcome => ({ value });
const no = (reason: ProtocolReason, why: string): Outcome => ({ reason, why });
const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const oneToTwentyFive = Array.from({ length: 25 }, (_, i) => i + 1);
const nested = [1, [2, 3], [4, 5]];

/** Every vector, by hex: the value `decodeValue` must produce, or the reason it must refuse with. */
const EXPECTED: ReadonlyMap<string, Outcome> = new Map<string, Outcome>([
  // unsigned integers; 8-byte ones become numbers while exact, bigints past 2^53 - 1
  ['00', ok(0)],
  ['01', ok(1)],
  ['0a', ok(10)],
  ['17', ok(23)],
  ['1818', ok(24)],
  ['1819', ok(25)],
  ['1864', ok(100)],
  ['1903e8', ok(1000)],
  ['1a000f4240', ok(1000000)],
  ['1b000000e8d4a51000', ok(1000000000000)],
  ['1bffffffffffffffff', ok(18446744073709551615n)],
  ['c249010000000000000000', no('TAG', 'tag 2 (positive bignum)')],
  // negative integers
  ['3bffffffffffffffff', ok(-18446744073709551616n)],
  ['c349010000000000000000', no('TAG', 'tag 3 (negative bignum)')],
  ['20', ok(-1)],
  ['29', ok(-10)],
  ['3863', ok(-100)],
  ['3903e7', ok(-1000)],
  // floats: half, single and double precision, signed zero and the non-finite values
  ['f90000', ok(0)],
  ['f98000', ok(-0)],
  ['f93c00', ok(1)],
  ['fb3ff199999999999a', ok(1.1)],
  ['f93e00', ok(1.5)],
  ['f97bff', ok(65504)],
  ['fa47c35000', ok(100000)],
  ['fa7f7fffff', ok(3.4028234663852886e38)],
  ['fb7e37e43c8800759c', ok(1e300)],
  ['f90001', ok(5.960464477539063e-8)],
  ['f90400', ok(0.00006103515625)],
  ['f9c400', ok(-4)],
  ['fbc010666666666666', ok(-4.1)],
  ['f97c00', ok(Infinity)],
  ['f97e00', ok(NaN)],
  ['f9fc00', ok(-Infinity)],
  ['fa7f800000', ok(Infinity)],
  ['fa7fc00000', ok(NaN)],
  ['faff800000', ok(-Infinity)],
  ['fb7ff0000000000000', ok(Infinity)],
  ['fb7ff8000000000000', ok(NaN)],
  ['fbfff0000000000000', ok(-Infinity)],
  // simple values: only false, true, null, undefined
  ['f4', ok(false)],
  ['f5', ok(true)],
  ['f6', ok(null)],
  ['f7', ok(undefined)],
  ['f0', no('UNSUPPORTED_VALUE', 'simple(16): not one of false/true/null/undefined')],
  ['f818', no('MALFORMED', 'simple(24) in the two-byte form: RFC 8949 §3.3 makes f8 00..1f not well-formed')],
  ['f8ff', no('UNSUPPORTED_VALUE', 'simple(255)')],
  // tags
  ['c074323031332d30332d32315432303a30343a30305a', no('TAG', 'tag 0 (date/time text)')],
  ['c11a514b67b0', no('TAG', 'tag 1 (epoch time, integer)')],
  ['c1fb41d452d9ec200000', no('TAG', 'tag 1 (epoch time, float)')],
  ['d74401020304', no('TAG', 'tag 23 (expected base16)')],
  ['d818456449455446', no('TAG', 'tag 24 (embedded CBOR)')],
  ['d82076687474703a2f2f7777772e6578616d706c652e636f6d', no('TAG', 'tag 32 (URI)')],
  // byte strings and text strings
  ['40', ok(bytes())],
  ['4401020304', ok(bytes(1, 2, 3, 4))],
  ['60', ok('')],
  ['6161', ok('a')],
  ['6449455446', ok('IETF')],
  ['62225c', ok('"\\')],
  ['62c3bc', ok('\u00fc')],
  ['63e6b0b4', ok('\u6c34')],
  ['64f0908591', ok('\u{10151}')],
  // arrays and maps
  ['80', ok([])],
  ['83010203', ok([1, 2, 3])],
  ['8301820203820405', ok(nested)],
  ['98190102030405060708090a0b0c0d0e0f101112131415161718181819', ok(oneToTwentyFive)],
  ['a0', ok({})],
  ['a201020304', no('NON_TEXT_KEY', 'integer keys {1: 2, 3: 4}')],
  ['a26161016162820203', ok({ a: 1, b: [2, 3] })],
  ['826161a161626163', ok(['a', { b: 'c' }])],
  ['a56161614161626142616361436164614461656145', ok({ a: 'A', b: 'B', c: 'C', d: 'D', e: 'E' })],
  // indefinite lengths: strings refused, arrays and maps accepted
  ['5f42010243030405ff', no('UNSUPPORTED_VALUE', 'indefinite-length byte string')],
  ['7f657374726561646d696e67ff', no('UNSUPPORTED_VALUE', 'indefinite-length text string')],
  ['9fff', ok([])],
  ['9f018202039f0405ffff', ok(nested)],
  ['9f01820203820405ff', ok(nested)],
  ['83018202039f0405ff', ok(nested)],
  ['83019f0203ff820405', ok(nested)],
  ['9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff', ok(oneToTwentyFive)],
  ['bf61610161629f0203ffff', ok({ a: 1, b: [2, 3] })],
  ['826161bf61626163ff', ok(['a', { b: 'c' }])],
  ['bf6346756ef563416d7421ff', ok({ Fun: true, Amt: -2 })],
]);

/** Deep equality that tells -0 from 0 and NaN from everything but NaN (Object.is at the leaves). */
function sameValue(actual: unknown, expected: unknown): void {
  if (typeof expected === 'number' || typeof expected === 'bigint' || expected === undefined || expected === null) {
    expect(Object.is(actual, expected), `${String(actual)} is ${String(expected)}`).toBe(true);
    return;
  }
  if (expected instanceof Uint8Array) {
    expect(actual).toBeInstanceOf(Uint8Array);
    expect(Array.from(actual as Uint8Array)).toEqual(Array.from(expected));
    return;
  }
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual)).toBe(true);
    expect((actual as unknown[]).length).toBe(expected.length);
    expected.forEach((item, i) => sameValue((actual as unknown[])[i], item));
    return;
  }
  if (typeof expected === 'object') {
    expect(Object.getPrototypeOf(actual)).toBe(Object.prototype);
    expect(Object.keys(actual as object)).toEqual(Object.keys(expected));
    for (const [key, item] of Object.entries(expected)) sameValue((actual as Record<string, unknown>)[key], item);
    return;
  }
  expect(actual).toBe(expected);
}

const accepted = VECTORS.filter((v) => 'value' in (EXPECTED.get(v.hex) ?? {}));
const rejected = VECTORS.filter((v) => 'reason' in (EXPECTED.get(v.hex) ?? {}));

describe('RFC 8949 Appendix A', () => {
  test('every vector is classified exactly once, and the table holds nothing else', () => {
    expect(VECTORS).toHaveLength(82);
    expect(new Set(VECTORS.map((v) => v.hex)).size).toBe(VECTORS.length);
    expect(VECTORS.filter((v) => !EXPECTED.has(v.hex)).map((v) => v.hex)).toEqual([]);
    expect(EXPECTED.size).toBe(VECTORS.length);
    expect(accepted.length + rejected.length).toBe(VECTORS.length);
    expect({ accepted: accepted.length, rejected: rejected.length }).toEqual({ accepted: 68, rejected: 14 });
    const reasons = rejected.map((v) => (EXPECTED.get(v.hex) as { reason: ProtocolReason }).reason);
    const count = (r: ProtocolReason): number => reasons.filter((x) => x === r).length;
    expect({ TAG: count('TAG'), NON_TEXT_KEY: count('NON_TEXT_KEY'), UNSUPPORTED_VALUE: count('UNSUPPORTED_VALUE'), MALFORMED: count('MALFORMED') })
      .toEqual({ TAG: 8, NON_TEXT_KEY: 1, UNSUPPORTED_VALUE: 4, MALFORMED: 1 });
  });

  test('each vector\'s hex and base64 agree', () => {
    for (const v of VECTORS) expect(toHex(Buffer.from(v.cbor, 'base64')), v.hex).toBe(v.hex);
  });

  describe('accepted', () => {
    test.each(accepted.map((v) => [v.hex, v] as const))('%s', (_hex, vector) => {
      const { value } = EXPECTED.get(vector.hex) as { value: unknown };
      sameValue(decodeValue(hex(vector.hex)), value);
    });
  });

  describe('rejected by design', () => {
    test.each(rejected.map((v) => [v.hex, v] as const))('%s', (_hex, vector) => {
      const { reason, why } = EXPECTED.get(vector.hex) as { reason: ProtocolReason; why: string };
      const err = thrownBy(() => decodeValue(hex(vector.hex)));
      expect(err, why).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).reason, why).toBe(reason);
    });
  });

  test('the table agrees with the file\'s own "decoded" and "diagnostic" fields', () => {
    // A JSON value in the file does not make a vector acceptable: these three have one and are
    // refused all the same (two bignum tags and a chunked text string).
    expect(rejected.filter((v) => 'decoded' in v).map((v) => v.hex)).toEqual(['c249010000000000000000', 'c349010000000000000000', '7f657374726561646d696e67ff']);
    for (const vector of VECTORS) {
      const outcome = EXPECTED.get(vector.hex)!;
      if ('decoded' in vector) {
        if ('reason' in outcome) continue;
        if (typeof outcome.value === 'bigint') {
          // JSON.parse rounds these; compare against the literal in the file instead.
          const literal = new RegExp(`"hex": "${vector.hex}",\\s*"roundtrip": \\w+,\\s*"decoded": (-?\\d+)`).exec(RAW_TEXT);
          expect(literal, vector.hex).not.toBeNull();
          expect(BigInt(literal![1]!)).toBe(outcome.value);
        } else {
          sameValue(outcome.value, vector.decoded);
        }
        continue;
      }
      const diagnostic = vector.diagnostic!;
      if ('value' in outcome) {
        const fromDiagnostic =
          diagnostic === 'Infinity' ? Infinity
          : diagnostic === '-Infinity' ? -Infinity
          : diagnostic === 'NaN' ? NaN
          : diagnostic === 'undefined' ? undefined
          : /^h'([0-9a-f]*)'$/.test(diagnostic) ? hex(/^h'([0-9a-f]*)'$/.exec(diagnostic)![1]!)
          : Symbol('unparsed');
        sameValue(outcome.value, fromDiagnostic);
      } else {
        // The diagnostic notation itself shows why: a tag "n(...)", an integer key, a simple value,
        // or an indefinite-length string "(_ ...)".
        const shape = { TAG: /^\d+\(/, NON_TEXT_KEY: /^\{\d+:/, UNSUPPORTED_VALUE: /^(simple\(|\(_ )/, MALFORMED: /^simple\(([0-9]|[12]\d|3[01])\)$/ }[outcome.reason as string];
        expect(diagnostic, vector.hex).toMatch(shape!);
      }
    }
  });

  test('accepted values survive our encoder (meaning, not bytes: the encoder picks its own widths)', () => {
    for (const vector of accepted) {
      const { value } = EXPECTED.get(vector.hex) as { value: unknown };
      if (Object.is(value, -0)) {
        // Known, documented: like JSON.stringify, the encoder writes -0 as the integer 0.
        expect(toHex(encodeValue(value))).toBe('00');
        continue;
      }
      if (value === -18446744073709551616n) {
        // -2^64 decodes (3b ff..ff) but cbor-x only encodes it as a tag 3 bignum, which we refuse.
        expect((thrownBy(() => encodeValue(value)) as ProtocolError).reason).toBe('UNENCODABLE');
        continue;
      }
      sameValue(decodeValue(encodeValue(value)), value);
    }
  });

  test('vectors marked roundtrip whose value our encoder writes in the same preferred form', () => {
    // Integers, text, definite arrays of small items and simple values come out byte for byte.
    const sameBytes = ['00', '01', '0a', '17', '1818', '1819', '1864', '1903e8', '1a000f4240', '20', '29', '3863', '3903e7', 'f4', 'f5', 'f6', 'f7', '6161', '6449455446', '62c3bc', '63e6b0b4', '64f0908591', '83010203', '8301820203820405', '4401020304', 'fb3ff199999999999a', 'fb7e37e43c8800759c', 'fbc010666666666666'];
    for (const h of sameBytes) {
      const vector = VECTORS.find((v) => v.hex === h)!;
      expect(vector.roundtrip).toBe(true);
      expect(toHex(encodeValue((EXPECTED.get(h) as { value: unknown }).value)), h).toBe(h);
    }
  });
});
