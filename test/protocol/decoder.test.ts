import { afterEach, describe, expect, test, vi } from 'vitest';
import { encodeFrame, FrameDecoder, ProtocolError, PROTOCOL_REASONS } from '../../src/protocol/index.js';
import { concat, decodeStream, expectReason, frameOf, hex, plainBytes, splitAt, thrownBy } from './helpers.js';

/** Records the length of every `new Uint8Array(n)` until `vi.unstubAllGlobals()`. */
function countUint8ArrayAllocations(allocations: number[]): void {
  const RealUint8Array = Uint8Array;
  vi.stubGlobal(
    'Uint8Array',
    new Proxy(RealUint8Array, {
      construct(target, args, newTarget) {
        if (typeof args[0] === 'number') allocations.push(args[0]);
        return Reflect.construct(target, args, newTarget) as object;
      },
    }),
  );
}

const MESSAGES: unknown[] = [
  { t: 'hello', v: 1, pid: 4242 },
  { t: 'req', id: 1, m: 'offset', p: 1024 },
  { t: 'res', id: 1, ok: true, p: { bytes: new Uint8Array([1, 2, 3]), text: 'x'.repeat(300) } },
  { t: 'ping', id: 2 },
  { t: 'bye' },
];
const STREAM = concat(MESSAGES.map((m) => encodeFrame(m)));

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('chunking never changes what comes out', () => {
  test('split into two pieces at every byte boundary', () => {
    const expected = plainBytes(MESSAGES);
    for (let cut = 0; cut <= STREAM.length; cut++) {
      expect(plainBytes(decodeStream(splitAt(STREAM, [cut]))), `cut at byte ${cut}`).toEqual(expected);
    }
  });

  test('fed one byte at a time', () => {
    const decoder = new FrameDecoder();
    const out: unknown[] = [];
    for (let i = 0; i < STREAM.length; i++) out.push(...decoder.push(STREAM.subarray(i, i + 1)));
    decoder.end();
    expect(plainBytes(out)).toEqual(plainBytes(MESSAGES));
  });

  test('many frames in one chunk come out of one push, in order', () => {
    const frames = Array.from({ length: 1000 }, (_, id) => encodeFrame({ t: 'ping', id }));
    const decoder = new FrameDecoder();
    expect(decoder.push(concat(frames))).toEqual(Array.from({ length: 1000 }, (_, id) => ({ t: 'ping', id })));
    expect(decoder.buffered).toBe(0);
  });

  test('feed hands each message to the sink as soon as it is decoded', () => {
    const seen: unknown[] = [];
    const decoder = new FrameDecoder();
    decoder.feed(STREAM.subarray(0, 30), (m) => seen.push(m));
    expect(seen.length).toBeGreaterThan(0);
    decoder.feed(STREAM.subarray(30), (m) => seen.push(m));
    expect(plainBytes(seen)).toEqual(plainBytes(MESSAGES));
  });

  test('buffered counts the bytes of the incomplete frame', () => {
    const frame = encodeFrame({ t: 'ping', id: 9 });
    const decoder = new FrameDecoder();
    expect(decoder.push(frame.subarray(0, 3))).toEqual([]);
    expect(decoder.buffered).toBe(3);
    expect(decoder.push(frame.subarray(3, 7))).toEqual([]);
    expect(decoder.buffered).toBe(7);
    expect(decoder.push(frame.subarray(7))).toEqual([{ t: 'ping', id: 9 }]);
    expect(decoder.buffered).toBe(0);
  });
});

describe('length prefix', () => {
  test('0 is EMPTY_FRAME', () => {
    expectReason(() => new FrameDecoder().push(hex('00000000')), 'EMPTY_FRAME');
  });

  test('maxFrameBytes is accepted, maxFrameBytes + 1 is FRAME_TOO_LARGE', () => {
    const body = 'x'.repeat(97); // text header 78 61 + 97 bytes = 99 bytes
    const frame = encodeFrame(body);
    expect(frame.length - 4).toBe(99);
    expect(new FrameDecoder({ maxFrameBytes: 99 }).push(frame)).toEqual([body]);
    expectReason(() => new FrameDecoder({ maxFrameBytes: 98 }).push(frame), 'FRAME_TOO_LARGE', /99 .*98/);
  });

  test('a 64 MiB prefix is refused on its 4th byte, before anything is allocated for the body', () => {
    const allocations: number[] = [];
    const RealUint8Array = Uint8Array;
    countUint8ArrayAllocations(allocations);
    const bufferAllocs = [vi.spyOn(Buffer, 'alloc'), vi.spyOn(Buffer, 'allocUnsafe'), vi.spyOn(Buffer, 'allocUnsafeSlow')];
    const arrayBuffersBefore = process.memoryUsage().arrayBuffers;

    const decoder = new FrameDecoder(); // default limit: 16 MiB
    const prefix = [0x04, 0x00, 0x00, 0x00]; // 0x04000000 = 64 MiB
    const held: number[] = [];
    for (const byte of prefix.slice(0, 3)) {
      expect(decoder.push(RealUint8Array.of(byte))).toEqual([]);
      held.push(decoder.buffered);
    }
    const err = expectReason(() => decoder.push(RealUint8Array.of(prefix[3]!)), 'FRAME_TOO_LARGE', /67108864/);
    vi.unstubAllGlobals();

    expect(held).toEqual([1, 2, 3]); // it only ever held the prefix
    expect(decoder.buffered).toBe(0); // and let go of it on the error
    expect(err.details).toMatchObject({ reason: 'FRAME_TOO_LARGE' });
    expect(allocations.every((n) => n <= 4)).toBe(true); // at most the 4-byte prefix, assembled from pieces
    for (const spy of bufferAllocs) expect(spy).not.toHaveBeenCalled();
    expect(process.memoryUsage().arrayBuffers - arrayBuffersBefore).toBeLessThan(1 << 20);
  });

  test('an accepted 64 MiB prefix holds only the bytes that arrived, not 64 MiB', () => {
    const allocations: number[] = [];
    const RealUint8Array = Uint8Array;
    const decoder = new FrameDecoder({ maxFrameBytes: 128 << 20 });
    const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
    countUint8ArrayAllocations(allocations);
    expect(decoder.push(RealUint8Array.of(0x04, 0x00, 0x00, 0x00))).toEqual([]); // 64 MiB announced
    expect(decoder.buffered).toBe(4);
    expect(decoder.push(new RealUint8Array(1000))).toEqual([]); // 1000 of them arrived
    vi.unstubAllGlobals();
    expect(decoder.buffered).toBe(1004);
    expect(allocations).toEqual([]);
    expect(process.memoryUsage().arrayBuffers - arrayBuffersBefore).toBeLessThan(1 << 20);
  });
});

describe('end of stream', () => {
  const frame = encodeFrame({ t: 'ping', id: 1 });

  test('after whole frames: fine', () => {
    const decoder = new FrameDecoder();
    decoder.push(frame);
    expect(() => decoder.end()).not.toThrow();
  });

  test('inside a partial header: TRUNCATED', () => {
    const decoder = new FrameDecoder();
    decoder.push(frame);
    decoder.push(frame.subarray(0, 2));
    expectReason(() => decoder.end(), 'TRUNCATED', /4-byte length prefix/);
  });

  test('inside a partial body: TRUNCATED', () => {
    const decoder = new FrameDecoder();
    decoder.push(frame.subarray(0, frame.length - 1));
    expectReason(() => decoder.end(), 'TRUNCATED', new RegExp(`frame of ${frame.length - 4} bytes`));
  });

  test('right after a complete header with no body: TRUNCATED', () => {
    const decoder = new FrameDecoder();
    decoder.push(frame.subarray(0, 4));
    expectReason(() => decoder.end(), 'TRUNCATED');
  });
});

describe('errors', () => {
  test('text written to the pipe by mistake (console.log) is refused', () => {
    // "hello\n" read as a length prefix is 0x68656c6c, far past 16 MiB.
    expectReason(() => new FrameDecoder().push(Buffer.from('hello world\n')), 'FRAME_TOO_LARGE');
  });

  test('random garbage always ends in a ProtocolError, never a value or another error', () => {
    let seed = 0x2545f491;
    const random = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) & 0xff;
    };
    for (let run = 0; run < 200; run++) {
      const garbage = Uint8Array.from({ length: 64 + (run % 64) }, random);
      if (run % 2 === 0) garbage.set([0, 0, 0, 16]); // a plausible prefix: the body itself is garbage
      const err = thrownBy(() => decodeStream([garbage]));
      expect(err).toBeInstanceOf(ProtocolError);
      expect(PROTOCOL_REASONS).toContain((err as ProtocolError).reason);
    }
  });

  test('a bad body is reported with the scanner reason', () => {
    expectReason(() => new FrameDecoder().push(frameOf('ff ff ff ff')), 'MALFORMED');
    expectReason(() => new FrameDecoder().push(frameOf('c1 00')), 'TAG');
  });

  test('after an error the decoder is dead: push, feed and end throw the same error', () => {
    const decoder = new FrameDecoder();
    const first = expectReason(() => decoder.push(concat([frameOf('c1 00'), encodeFrame({ t: 'ping', id: 1 })])), 'TAG');
    expect(thrownBy(() => decoder.push(encodeFrame({ t: 'ping', id: 2 })))).toBe(first);
    expect(thrownBy(() => decoder.feed(new Uint8Array(0), () => undefined))).toBe(first);
    expect(thrownBy(() => decoder.end())).toBe(first);
    expect(decoder.buffered).toBe(0);
  });

  test('after TRUNCATED at end the decoder is dead too', () => {
    const decoder = new FrameDecoder();
    decoder.push(hex('00'));
    const first = expectReason(() => decoder.end(), 'TRUNCATED');
    expect(thrownBy(() => decoder.push(encodeFrame(1)))).toBe(first);
  });

  test('frames before the bad one are delivered to feed before the error', () => {
    const seen: unknown[] = [];
    const decoder = new FrameDecoder();
    const chunk = concat([encodeFrame({ t: 'ping', id: 1 }), frameOf('1c')]);
    expectReason(() => decoder.feed(chunk, (m) => seen.push(m)), 'MALFORMED');
    expect(seen).toEqual([{ t: 'ping', id: 1 }]);
  });

  test('a ProtocolError thrown by the sink (a validator) kills the decoder with that error', () => {
    const decoder = new FrameDecoder();
    const err = new ProtocolError('BAD_MESSAGE', 'not a hello');
    expect(thrownBy(() => decoder.feed(encodeFrame({ t: 'pong', id: 1 }), () => { throw err; }))).toBe(err);
    expect(thrownBy(() => decoder.push(encodeFrame(1)))).toBe(err);
  });

  test('option validation', () => {
    expect(() => new FrameDecoder({ maxFrameBytes: 0 })).toThrow(RangeError);
    expect(() => new FrameDecoder({ maxFrameBytes: 2 ** 32 })).toThrow(RangeError);
    expect(() => new FrameDecoder({ maxDepth: 0 })).toThrow(RangeError);
    expect(() => new FrameDecoder({ maxDepth: 1.5 })).toThrow(RangeError);
  });
});

describe('copies', () => {
  test('a frame spanning 2048 chunks is assembled by one allocation and one pass, no Buffer.concat', () => {
    const payload = new Uint8Array(8 << 20).fill(7);
    const frame = encodeFrame({ t: 'res', id: 1, ok: true, p: payload });
    const bodyLength = frame.length - 4;
    const chunks = splitAt(frame, Array.from({ length: Math.ceil(frame.length / 4096) }, (_, i) => i * 4096));
    expect(chunks.length).toBeGreaterThan(2000);

    const big: number[] = [];
    const RealUint8Array = Uint8Array;
    const concatSpy = vi.spyOn(Buffer, 'concat');
    const setSpy = vi.spyOn(RealUint8Array.prototype, 'set');
    vi.stubGlobal(
      'Uint8Array',
      new Proxy(RealUint8Array, {
        construct(target, args, newTarget) {
          if (typeof args[0] === 'number' && args[0] >= 1 << 20) big.push(args[0]);
          return Reflect.construct(target, args, newTarget) as object;
        },
      }),
    );

    const decoder = new FrameDecoder();
    const out: unknown[] = [];
    const bufferedAfterEach: number[] = [];
    for (const chunk of chunks) {
      out.push(...decoder.push(chunk));
      bufferedAfterEach.push(decoder.buffered);
    }
    vi.unstubAllGlobals();

    expect(concatSpy).not.toHaveBeenCalled();
    expect(big).toEqual([bodyLength]); // one buffer the size of the body, allocated once
    // Bytes copied into that buffer: each body byte exactly once (no re-copying of a growing backlog).
    const copiedIntoBody = setSpy.mock.calls
      .filter((_, i) => (setSpy.mock.contexts[i] as Uint8Array).length === bodyLength)
      .reduce((n, [source]) => n + (source as ArrayLike<number>).length, 0);
    expect(copiedIntoBody).toBe(bodyLength);
    expect(out).toHaveLength(1);
    const message = out[0] as { p: Uint8Array };
    expect(message.p.length).toBe(payload.length);
    expect(message.p.every((b) => b === 7)).toBe(true);
    expect(bufferedAfterEach.at(-1)).toBe(0);
  });

  test('a frame inside one chunk yields byte strings that are views into that chunk', () => {
    const chunk = concat([encodeFrame({ t: 'ping', id: 1 }), encodeFrame({ t: 'res', id: 1, ok: true, p: new Uint8Array([9, 8, 7]) })]);
    const [, res] = new FrameDecoder().push(chunk) as [unknown, { p: Uint8Array }];
    expect(Array.from(res.p)).toEqual([9, 8, 7]);
    expect(res.p.buffer).toBe(chunk.buffer);
    expect(chunk.subarray(res.p.byteOffset, res.p.byteOffset + 3)).toEqual(new Uint8Array([9, 8, 7]));
    chunk[res.p.byteOffset] = 1; // the same memory
    expect(res.p[0]).toBe(1);
  });
});
