import { describe, expect, test } from 'vitest';
import { DEFAULT_MAX_ITEMS, decodeValue, encodeFrame, encodeValue, FrameDecoder, scanItem } from '../../src/protocol/index.js';
import { expectReason, frameOf, hex } from './helpers.js';

/** A top-level array of `n` empty maps: n + 1 data items in n + 1..n + 5 bytes. */
const emptyMaps = (n: number): Uint8Array => {
  const body = new Uint8Array(5 + n).fill(0xa0);
  body[0] = 0x9a;
  new DataView(body.buffer).setUint32(1, n);
  return body;
};

describe('maxItems: decoding costs per item, so items are counted before anything is built', () => {
  test('every array element, map key and map value counts, the containers too', () => {
    expect(scanItem(hex('00'), { maxDepth: 64, maxItems: 1 })).toBe(1);
    expect(scanItem(hex('83 01 02 03'), { maxDepth: 64, maxItems: 4 })).toBe(4);
    expect(scanItem(hex('a2 6161 01 6162 80'), { maxDepth: 64, maxItems: 5 })).toBe(5); // map, 2 keys, 2 values
    expect(scanItem(hex('9f a0 a0 ff'), { maxDepth: 64, maxItems: 3 })).toBe(3); // the break is not an item
  });

  test('exactly maxItems is accepted, one more is TOO_MANY_ITEMS', () => {
    const limits = { maxFrameBytes: 1 << 20, maxDepth: 64, maxItems: 1001 };
    expect((decodeValue(emptyMaps(1000), limits) as unknown[]).length).toBe(1000);
    expectReason(() => decodeValue(emptyMaps(1001), limits), 'TOO_MANY_ITEMS', /an array of 1001 items at byte 0 takes the frame past 1001 data items/);
  });

  test('a declared size past the budget is refused at its head, before any item is read', () => {
    // The array claims 1,000,000 maps; the frame holds them all. Nothing after the head is looked at:
    // a tag (which would be refused as TAG) right after it does not change the reason.
    const body = emptyMaps(1_000_000);
    body[5] = 0xc1;
    expectReason(() => decodeValue(body), 'TOO_MANY_ITEMS', /at byte 0/);
    expectReason(() => decodeValue(hex('a2 6161 01 6162 02'), { maxFrameBytes: 64, maxDepth: 64, maxItems: 4 }), 'TOO_MANY_ITEMS', /a map of 2 entries/);
  });

  test('indefinite lengths are counted as they go', () => {
    const limits = { maxFrameBytes: 64, maxDepth: 64, maxItems: 3 };
    expect(decodeValue(hex('9f a0 a0 ff'), limits)).toEqual([{}, {}]);
    expectReason(() => decodeValue(hex('9f a0 a0 a0 ff'), limits), 'TOO_MANY_ITEMS', /a data item at byte 3/);
  });

  test('the default is DEFAULT_MAX_ITEMS, through the FrameDecoder; the option is validated', () => {
    expect(DEFAULT_MAX_ITEMS).toBe(262_144);
    const at = (n: number) => frameOf(Buffer.from(emptyMaps(n)).toString('hex'));
    expect(new FrameDecoder().push(at(DEFAULT_MAX_ITEMS - 1))[0]).toHaveLength(DEFAULT_MAX_ITEMS - 1);
    expectReason(() => new FrameDecoder().push(at(DEFAULT_MAX_ITEMS)), 'TOO_MANY_ITEMS');
    expect(new FrameDecoder({ maxItems: 2 }).limits.maxItems).toBe(2);
    expect(() => new FrameDecoder({ maxItems: 0 })).toThrow('options.maxItems must be a positive integer, got 0');
    expect(() => new FrameDecoder({ maxItems: 1.5 })).toThrow(RangeError);
  });

  test('the encode side refuses what its peer would refuse, with the same reason', () => {
    const limits = { maxFrameBytes: 1 << 20, maxDepth: 64, maxItems: 10 };
    expect(encodeValue(new Array(9).fill(0), limits).length).toBeGreaterThan(0);
    expectReason(() => encodeValue(new Array(10).fill(0), limits), 'TOO_MANY_ITEMS');
    expectReason(() => encodeFrame({ t: 'req', id: 1, p: new Array(DEFAULT_MAX_ITEMS).fill(0) }), 'TOO_MANY_ITEMS');
  });
});
