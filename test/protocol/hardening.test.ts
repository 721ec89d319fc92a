import { decode as rawCborXDecode } from 'cbor-x';
import { afterEach, describe, expect, test } from 'vitest';
import {
  decodeValue,
  DEFAULT_LIMITS,
  DEFAULT_MAX_DEPTH,
  encodeFrame,
  encodeValue,
  FrameDecoder,
  type ProtocolReason,
} from '../../src/protocol/index.js';
import { expectReason, frameOf, hex } from './helpers.js';

const PROTO = '69 5f5f70726f746f5f5f'; // text(9) "__proto__"

/** Object.prototype's own keys, to prove nothing was added to it. */
const prototypeKeys = (): string[] => Reflect.ownKeys(Object.prototype).map(String).sort();
const pristine = prototypeKeys();
afterEach(() => {
  expect(prototypeKeys()).toEqual(pristine);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

describe('tags are refused before cbor-x could honour them', () => {
  // [construct, body hex, reason]
  const cases: Array<[string, string, ProtocolReason]> = [
    ['tag 27 RegExp ["RegExp", "ab", "g"]', 'd81b 83 66526567457870 626162 6167', 'TAG'],
    ['tag 27 Error ["Error", "boom"]', 'd81b 82 654572726f72 64626f6f6d', 'TAG'],
    ['tag 28 + 29: an array holding itself', 'd81c 81 d81d 00', 'SHARED_REF'],
    ['tag 29 alone (a reference)', 'd81d 00', 'SHARED_REF'],
    ['tag 28 deep inside a payload', 'a1 6170 81 d81c a0', 'SHARED_REF'],
    ['tag 1 epoch date', 'c1 1a514b67b0', 'TAG'],
    ['tag 0 date text', 'c0 74 323031332d30332d32315432303a30343a30305a', 'TAG'],
    ['tag 2 bignum', 'c2 49 010000000000000000', 'TAG'],
    ['tag 55799 self-described CBOR', 'd9d9f7 00', 'TAG'],
    ['tag 259 (cbor-x Map)', 'd90103 a0', 'TAG'],
    ['tag 64 typed array', 'd840 4101', 'TAG'],
    ['a tag nested in an indefinite array', '9f 01 c1 00 ff', 'TAG'],
  ];
  test.each(cases)('%s -> %s', (_name, body, reason) => {
    expectReason(() => decodeValue(hex(body)), reason);
  });

  test('(why: plain cbor-x does build a RegExp and a cycle from these bytes)', () => {
    expect(rawCborXDecode(hex('d81b 83 66526567457870 626162 6167'))).toBeInstanceOf(RegExp);
    const cyclic = rawCborXDecode(hex('d81c 81 d81d 00')) as unknown[];
    expect(cyclic[0]).toBe(cyclic);
  });
});

describe('map keys', () => {
  test.each([
    ['integer key {1: 2}', 'a1 01 02'],
    ['negative integer key', 'a1 20 02'],
    ['byte-string key', 'a1 4161 02'],
    ['indefinite-length text key', 'a1 7f 6161 ff 02'],
    ['array key', 'a1 80 02'],
    ['map key', 'a1 a0 02'],
    ['null key', 'a1 f6 02'],
    ['float key', 'a1 f93c00 02'],
    ['tagged key', 'a1 c1 00 02'],
    ['integer key in an indefinite map', 'bf 6161 01 02 03 ff'],
    ['integer key in a nested map', 'a1 6161 a1 01 02'],
  ])('%s -> NON_TEXT_KEY', (_name, body) => {
    expectReason(() => decodeValue(hex(body)), 'NON_TEXT_KEY');
  });

  test.each([
    ['at top level', `a1 ${PROTO} a1 68706f6c6c75746564 f5`],
    ['nested in a map', `a1 6161 a1 ${PROTO} a1 68706f6c6c75746564 f5`],
    ['inside an array', `82 01 a1 ${PROTO} 01`],
    ['in an indefinite map', `bf 6161 01 ${PROTO} a0 ff`],
    ['with a non-minimal length (79 0009)', `a1 79 0009 5f5f70726f746f5f5f a0`],
    ['after other keys', `a2 6161 01 ${PROTO} a1 68706f6c6c75746564 f5`],
  ])('"__proto__" %s -> FORBIDDEN_KEY, and no prototype changes', (_name, body) => {
    expectReason(() => decodeValue(hex(body)), 'FORBIDDEN_KEY', /__proto__/);
    expectReason(() => new FrameDecoder().push(frameOf(body)), 'FORBIDDEN_KEY');
  });

  test('"constructor" and "prototype" keys are ordinary data', () => {
    // {"constructor": {"prototype": {"polluted": true}}, "a": 1}
    const value = decodeValue(hex('a2 6b636f6e7374727563746f72 a1 6970726f746f74797065 a1 68706f6c6c75746564 f5 6161 01')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['constructor', 'a']);
    expect(value.constructor).toEqual({ prototype: { polluted: true } });
    expect(Object.getPrototypeOf(value.constructor)).toBe(Object.prototype);
    expect(Object.prototype.constructor).toBe(Object);
    expect(value.a).toBe(1);
  });

  test('an overlong UTF-8 spelling of "__proto__" is refused as INVALID_UTF8, never a key', () => {
    // c1 9f would be "_" in a lax UTF-8 decoder; in a small frame and in a large one (long text is
    // checked on another path).
    for (const padding of ['', `6170 78c8 ${'61'.repeat(200)}`]) {
      const pairs = padding === '' ? 'a1' : 'a2';
      expectReason(() => decodeValue(hex(`${pairs} 6a c19f5f70726f746f5f5f a1 68706f6c6c75746564 f5 ${padding}`)), 'INVALID_UTF8', /map key at byte 1/);
    }
  });
});

describe('depth', () => {
  const arrays = (depth: number): string => '81'.repeat(depth) + '00';
  const maps = (depth: number): string => 'a1 6161 '.repeat(depth) + '00';
  const indefinite = (depth: number): string => '9f'.repeat(depth) + '00' + 'ff'.repeat(depth);
  const mixed = (depth: number): string => Array.from({ length: depth }, (_, i) => (i % 2 ? '81' : 'a1 6161')).join(' ') + ' 00';

  describe.each([
    ['definite arrays', arrays],
    ['definite maps', maps],
    ['indefinite arrays', indefinite],
    ['arrays and maps alternating', mixed],
  ])('%s', (_name, nest) => {
    test.each([1, 5, DEFAULT_MAX_DEPTH])('maxDepth %i: exactly maxDepth is accepted, maxDepth + 1 is TOO_DEEP', (maxDepth) => {
      const limits = { ...DEFAULT_LIMITS, maxDepth };
      expect(() => decodeValue(hex(nest(maxDepth)), limits)).not.toThrow();
      expectReason(() => decodeValue(hex(nest(maxDepth + 1)), limits), 'TOO_DEEP');
    });
  });

  test('the default limit is 64, through the FrameDecoder', () => {
    expect(new FrameDecoder().push(frameOf(arrays(64)))).toHaveLength(1);
    expectReason(() => new FrameDecoder().push(frameOf(arrays(65))), 'TOO_DEEP');
  });

  test('siblings do not add up: wide is not deep', () => {
    const limits = { ...DEFAULT_LIMITS, maxDepth: 2 };
    expect(decodeValue(hex('83 81 01 81 02 81 03'), limits)).toEqual([[1], [2], [3]]);
    expect(decodeValue(hex('83 80 80 80'), limits)).toEqual([[], [], []]);
  });

  test('hostile nesting (1,000,000 levels) is refused without recursion', () => {
    expectReason(() => decodeValue(new Uint8Array(1_000_000).fill(0x81)), 'TOO_DEEP');
  });
});

describe('other malformed or unsupported items', () => {
  const cases: Array<[string, string, ProtocolReason]> = [
    ['trailing byte after an integer', '00 00', 'TRAILING_BYTES'],
    ['trailing item after a map', 'a0 a0', 'TRAILING_BYTES'],
    ['a break after a complete item', '80 ff', 'TRAILING_BYTES'],
    ['simple(16) f0', 'f0', 'UNSUPPORTED_VALUE'],
    ['simple(0) e0', 'e0', 'UNSUPPORTED_VALUE'],
    ['simple(19) f3', 'f3', 'UNSUPPORTED_VALUE'],
    ['simple(32) f8 20', 'f820', 'UNSUPPORTED_VALUE'],
    ['simple(255) f8 ff', 'f8ff', 'UNSUPPORTED_VALUE'],
    ['simple value nested in a map', 'a1 6161 f0', 'UNSUPPORTED_VALUE'],
    ['two-byte simple below 32 (f8 18, not well-formed)', 'f818', 'MALFORMED'],
    ['indefinite text string', '7f 6161 6162 ff', 'UNSUPPORTED_VALUE'],
    ['indefinite byte string', '5f 4101 4102 ff', 'UNSUPPORTED_VALUE'],
    ['empty indefinite text string', '7f ff', 'UNSUPPORTED_VALUE'],
    ['stray break at top level', 'ff', 'MALFORMED'],
    ['break inside a definite array', '82 01 ff', 'MALFORMED'],
    ['break after a key in an indefinite map', 'bf 6161 ff', 'MALFORMED'],
    ['indefinite length on an integer', '1f', 'MALFORMED'],
    ['indefinite length on a tag', 'df', 'MALFORMED'],
    ['truncated: array missing an item', '82 01', 'TRUNCATED'],
    ['truncated: text shorter than its length', '63 6161', 'TRUNCATED'],
    ['truncated: 2-byte argument cut', '19 01', 'TRUNCATED'],
    ['truncated: double cut', 'fb 3ff0', 'TRUNCATED'],
    ['truncated: indefinite array without break', '9f 01 02', 'TRUNCATED'],
    ['truncated: map missing a value', 'a1 6161', 'TRUNCATED'],
    ['truncated: array claiming 2^64-1 items', '9b ffffffffffffffff 00', 'TRUNCATED'],
    ['truncated: byte string claiming 4 GiB', '5a ffffffff 00', 'TRUNCATED'],
    ['truncated: empty body', '', 'TRUNCATED'],
  ];
  test.each(cases)('%s -> %s', (_name, body, reason) => {
    expectReason(() => decodeValue(hex(body)), reason);
  });

  // Additional information 28, 29 and 30 are reserved in every major type.
  test.each(['1c', '1d', '1e', '3c', '5d', '7e', '9c', 'bd', 'de', 'fc', 'fd', 'fe'])('reserved additional info %s -> MALFORMED', (initial) => {
    expectReason(() => decodeValue(hex(initial)), 'MALFORMED', /reserved additional information/);
  });

  test('an item truncated inside a frame is TRUNCATED even when more frames follow in the chunk', () => {
    const chunk = new Uint8Array([...frameOf('82 01'), ...encodeFrame({ t: 'ping', id: 1 })]);
    expectReason(() => new FrameDecoder().push(chunk), 'TRUNCATED', /frame ends first/);
  });

  test('what is accepted: false, true, null, undefined, floats of every width', () => {
    expect(decodeValue(hex('86 f4 f5 f6 f7 f93e00 fa47c35000'))).toEqual([false, true, null, undefined, 1.5, 100000]);
  });

  test('8-byte integers: within 2^53 - 1 they are numbers, past it bigints', () => {
    expect(decodeValue(hex('1b 0000000000000001'))).toBe(1);
    expect(decodeValue(hex('1b 001fffffffffffff'))).toBe(Number.MAX_SAFE_INTEGER);
    expect(decodeValue(hex('3b 001ffffffffffffe'))).toBe(Number.MIN_SAFE_INTEGER);
    expect(decodeValue(hex('1b 0020000000000000'))).toBe(2n ** 53n);
    expect(decodeValue(hex('3b 001fffffffffffff'))).toBe(-(2n ** 53n));
    expect(decodeValue(hex('a1 6161 82 1b0000000000000005 1bffffffffffffffff'))).toEqual({ a: [5, 2n ** 64n - 1n] });
  });
});

describe('the encode side refuses what a peer would refuse', () => {
  const cyclicObject: Record<string, unknown> = { a: 1 };
  cyclicObject.self = cyclicObject;
  const cyclicArray: unknown[] = [];
  cyclicArray.push(cyclicArray);
  const nested = (depth: number): unknown => (depth === 0 ? 0 : [nested(depth - 1)]);

  const cases: Array<[string, unknown, ProtocolReason]> = [
    ['a Date', new Date(0), 'UNENCODABLE'],
    ['a Date inside a payload', { t: 'req', id: 1, p: { when: new Date(0) } }, 'UNENCODABLE'],
    ['a Map with non-string keys', new Map<unknown, unknown>([['a', 1], [2, 3]]), 'UNENCODABLE'],
    ['a Set', new Set([1]), 'UNENCODABLE'],
    ['a RegExp', /x/g, 'UNENCODABLE'],
    ['an Error', new Error('boom'), 'UNENCODABLE'],
    ['a cyclic object', cyclicObject, 'UNENCODABLE'],
    ['a cyclic array', cyclicArray, 'UNENCODABLE'],
    ['a function', { p: () => 1 }, 'UNENCODABLE'],
    ['a symbol', { p: Symbol('s') }, 'UNENCODABLE'],
    ['a bigint past 64 bits', 2n ** 64n, 'UNENCODABLE'],
    ['a Float32Array', new Float32Array(2), 'UNENCODABLE'],
    ['65 nested arrays (default maxDepth 64)', nested(65), 'TOO_DEEP'],
    ['an own "__proto__" key (JSON.parse)', JSON.parse('{"__proto__": 1}'), 'FORBIDDEN_KEY'],
    ['a nested own "__proto__" key', { t: 'req', id: 1, p: JSON.parse('{"a": {"__proto__": {"polluted": true}}}') }, 'FORBIDDEN_KEY'],
  ];
  test.each(cases)('%s -> %s', (_name, value, reason) => {
    expectReason(() => encodeFrame(value), reason);
  });

  test('a custom maxDepth applies to the encoder too', () => {
    const limits = { ...DEFAULT_LIMITS, maxDepth: 3 };
    expect(() => encodeFrame(nested(3), limits)).not.toThrow();
    expectReason(() => encodeFrame(nested(4), limits), 'TOO_DEEP');
  });

  test('a value over maxFrameBytes -> FRAME_TOO_LARGE, at exactly maxFrameBytes it is sent', () => {
    const limits = { ...DEFAULT_LIMITS, maxFrameBytes: 100 };
    expect(encodeFrame('x'.repeat(98), limits)).toHaveLength(4 + 100); // 78 62 + 98 bytes
    expectReason(() => encodeFrame('x'.repeat(99), limits), 'FRAME_TOO_LARGE', /101 bytes .* 100/);
    expectReason(() => encodeValue(new Uint8Array(200), limits), 'FRAME_TOO_LARGE');
  });

  test('a Map with text keys is a map like any other', () => {
    expect(decodeValue(encodeValue(new Map([['a', 1]])))).toEqual({ a: 1 });
  });
});
