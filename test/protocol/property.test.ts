import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { encodeFrame, FrameDecoder, ProtocolError, PROTOCOL_REASONS } from '../../src/protocol/index.js';
import { concat, plainBytes, splitAt } from './helpers.js';

const SEED = 20_240_611;
const MAX_FRAME_BYTES = 4096;
const options = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns });

/** Cut points for a stream: any number of offsets, possibly repeated or out of order. */
const cuts = fc.array(fc.nat({ max: 5000 }), { maxLength: 40 });

/** Valid frames, holding small messages, to build mostly-plausible streams from. */
const someFrames = fc
  .array(fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.uint8Array({ maxLength: 64 })), { minLength: 1, maxLength: 6 })
  .map((values) => concat(values.filter(isSafe).map((v) => encodeFrame(v))));

/** Byte streams a hostile peer might send: pure noise, noise behind a plausible prefix, damaged frames. */
const hostileStream = fc.oneof(
  fc.uint8Array({ maxLength: 3000 }),
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((body) => concat([lengthPrefix(body.length), body])),
  fc
    .tuple(someFrames, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }))
    .map(([stream, flips]) => {
      const damaged = Uint8Array.from(stream);
      for (const [at, byte] of flips) damaged[at % damaged.length] = byte;
      return damaged;
    }),
  fc.tuple(someFrames, fc.nat()).map(([stream, cut]) => stream.subarray(0, cut % (stream.length + 1))),
);

function lengthPrefix(n: number): Uint8Array {
  const prefix = new Uint8Array(4);
  new DataView(prefix.buffer).setUint32(0, n);
  return prefix;
}

/** fast-check may generate a "__proto__" key; such values are refused by design, so they are left out. */
function isSafe(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(isSafe);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.keys(value).every((k) => k !== '__proto__') && Object.values(value).every(isSafe);
  }
  return true;
}

/** -0 goes on the wire as the integer 0 (as with JSON.stringify); everything else is exact. */
function withoutNegativeZero(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(withoutNegativeZero);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutNegativeZero(v)]));
  }
  return value;
}

describe('FrameDecoder under arbitrary input', () => {
  test('yields values or throws a ProtocolError with a known reason, never anything else; buffered stays bounded', () => {
    fc.assert(
      fc.property(hostileStream, cuts, (stream, cutPoints) => {
        const decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES });
        let failure: unknown;
        for (const piece of splitAt(stream, cutPoints)) {
          try {
            decoder.push(piece);
          } catch (err) {
            failure = err;
            break;
          }
          expect(decoder.buffered).toBeLessThanOrEqual(MAX_FRAME_BYTES + 4);
        }
        if (failure === undefined) {
          try {
            decoder.end();
          } catch (err) {
            failure = err;
          }
        }
        if (failure !== undefined) {
          expect(failure).toBeInstanceOf(ProtocolError);
          expect(PROTOCOL_REASONS).toContain((failure as ProtocolError).reason);
          // dead from then on, with the same error
          expect(() => decoder.push(new Uint8Array([0, 0, 0, 1, 0]))).toThrow(failure as Error);
        }
      }),
      options(400),
    );
  });

  test('the same stream gives the same messages and the same error however it is chunked', () => {
    const outcome = (pieces: Uint8Array[]): unknown => {
      const decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES });
      const values: unknown[] = [];
      try {
        // feed, not push: push drops the messages of a chunk whose later frame is bad.
        for (const piece of pieces) decoder.feed(piece, (value) => values.push(value));
        decoder.end();
        return { values: plainBytes(values) };
      } catch (err) {
        return { values: plainBytes(values), reason: (err as ProtocolError).reason };
      }
    };
    fc.assert(
      fc.property(hostileStream, cuts, (stream, cutPoints) => {
        expect(outcome(splitAt(stream, cutPoints))).toEqual(outcome([stream]));
      }),
      options(300),
    );
  });
});

describe('round trip', () => {
  /** The JSON data model plus byte strings, nested. */
  const payload = fc
    .letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small', maxDepth: 5 }, tie('leaf'), tie('list'), tie('map')),
      leaf: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.uint8Array({ maxLength: 100 })),
      list: fc.array(tie('value'), { maxLength: 6 }),
      map: fc.dictionary(fc.string({ unit: 'grapheme' }), tie('value'), { maxKeys: 6 }),
    }))
    .value.filter(isSafe);

  test('encodeFrame -> any chunking -> FrameDecoder gives back an equal value', () => {
    fc.assert(
      fc.property(fc.array(payload, { minLength: 1, maxLength: 4 }), cuts, (values, cutPoints) => {
        const stream = concat(values.map((v) => encodeFrame(v)));
        const decoder = new FrameDecoder();
        const out: unknown[] = [];
        for (const piece of splitAt(stream, cutPoints)) out.push(...decoder.push(piece));
        decoder.end();
        expect(plainBytes(out)).toEqual(plainBytes(withoutNegativeZero(values)));
      }),
      options(300),
    );
  });

  test('v1 messages with arbitrary payloads survive byte-by-byte delivery', () => {
    const message = fc.record({ t: fc.constant('req'), id: fc.nat(), m: fc.string(), p: payload });
    fc.assert(
      fc.property(message, (m) => {
        const frame = encodeFrame(m);
        const decoder = new FrameDecoder();
        const out: unknown[] = [];
        for (let i = 0; i < frame.length; i++) out.push(...decoder.push(frame.subarray(i, i + 1)));
        expect(plainBytes(out)).toEqual([plainBytes(withoutNegativeZero(m))]);
      }),
      options(200),
    );
  });
});
