import fc from 'fast-check';
import { describe, expect, test, vi } from 'vitest';
import { FrameDecoder, FrameWriter, ProtocolError, type ProtocolLimits } from '../../src/protocol/index.js';
import { concat } from './helpers.js';

/**
 * FrameWriter batches the frames written in one tick into as few writes as it can. These tests
 * hand it a recording sink and an injected `schedule` (the end-of-tick flush runs when the test
 * says so), and decode everything it wrote with the real FrameDecoder.
 */

// Every body the encoder returned, so a chunk handed to the sink can be shown to be that very
// object (passed by reference, not copied). The encoder itself is the real one.
const encoded = vi.hoisted(() => [] as Uint8Array[]);
vi.mock('../../src/protocol/codec.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/protocol/codec.js')>();
  return {
    ...actual,
    encodeValue: (...args: Parameters<typeof actual.encodeValue>) => {
      const body = actual.encodeValue(...args);
      encoded.push(body);
      return body;
    },
  };
});

/** Bodies at least this large go to the sink by reference (writer.ts). */
const COPY_LIMIT = 16 * 1024;
/** Frames in one write at most (writer.ts). */
const MAX_BATCH_FRAMES = 16;

/**
 * A value with each byte string replaced by a tagged base64 string: deep equality on large byte
 * arrays goes element by element and would dominate the run time.
 */
function comparable(value: unknown): unknown {
  if (value instanceof Uint8Array) return `bytes:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}`;
  if (Array.isArray(value)) return value.map(comparable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, comparable(item)]));
  }
  return value;
}

/** One call of the sink: which entry point, the chunks, and a copy of their bytes at call time. */
interface SinkCall {
  via: 'sink' | 'sinkMany';
  chunks: Uint8Array[];
  snapshot: Uint8Array[];
}

/** A writer on a recording sink whose end-of-tick flushes wait for `tick()`. */
function recorder(limits?: ProtocolLimits) {
  const calls: SinkCall[] = [];
  const scheduled: (() => void)[] = [];
  const record = (via: SinkCall['via'], chunks: readonly Uint8Array[]) =>
    calls.push({ via, chunks: [...chunks], snapshot: chunks.map((chunk) => Uint8Array.from(chunk)) });
  const writer = new FrameWriter(
    (chunk) => record('sink', [chunk]),
    limits,
    (chunks) => record('sinkMany', chunks),
    (flush) => scheduled.push(flush),
  );
  return {
    writer,
    calls,
    scheduled,
    /** Ends the tick: runs the flushes the writer scheduled. */
    tick(): void {
      for (const flush of scheduled.splice(0)) flush();
    },
    /** The bytes of each sink call. */
    writes: () => calls.map((call) => concat(call.chunks)),
    /** Every message written so far, decoded as one stream (which must end on a frame boundary). */
    decoded(): unknown[] {
      const decoder = new FrameDecoder();
      const messages: unknown[] = [];
      for (const call of calls) for (const chunk of call.chunks) messages.push(...decoder.push(chunk));
      decoder.end();
      return messages.map(comparable);
    },
    /** Chunks changed since they were handed to the sink (a slab written twice). */
    mutated(): number {
      let n = 0;
      calls.forEach((call) => call.chunks.forEach((chunk, i) => (n += Buffer.compare(chunk, call.snapshot[i]!) === 0 ? 0 : 1)));
      return n;
    },
  };
}

/** Frames in one write, which must hold whole frames only. */
function framesIn(bytes: Uint8Array): number {
  const decoder = new FrameDecoder();
  const n = decoder.push(bytes).length;
  decoder.end(); // throws TRUNCATED if the write ended inside a frame
  return n;
}

const small = (id: number, p: unknown = `payload ${id}`) => ({ t: 'res', id, ok: true, p });
/** A message whose body is `bytes` long or a little more (a byte string of `bytes` bytes, filled with `fill`). */
const withBytes = (id: number, bytes: number, fill = id & 0xff) => ({ t: 'res', id, ok: true, p: new Uint8Array(bytes).fill(fill) });

describe('FrameWriter: batching', () => {
  test('frames written in one tick leave in one sink call, at the end of the tick', () => {
    const r = recorder();
    r.writer.write(small(1));
    r.writer.write(small(2));
    r.writer.write(small(3));
    expect(r.calls).toHaveLength(0);
    expect(r.scheduled).toHaveLength(1); // one flush per tick, however many frames
    expect(r.writer.pending).toBeGreaterThan(0);
    r.tick();
    expect(r.calls.map((c) => c.via)).toEqual(['sink']);
    expect(framesIn(r.writes()[0]!)).toBe(3);
    expect(r.decoded()).toEqual([small(1), small(2), small(3)].map(comparable));
    expect(r.writer.pending).toBe(0);
  });

  test('the default schedule flushes once the current tick is done (process.nextTick)', async () => {
    const writes: Uint8Array[] = [];
    const writer = new FrameWriter((chunk) => writes.push(Uint8Array.from(chunk)));
    writer.write(small(1));
    writer.write(small(2));
    expect(writes).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveLength(1);
    expect(framesIn(writes[0]!)).toBe(2);
  });

  test(`more than ${MAX_BATCH_FRAMES} frames in one tick go out in several writes of at most ${MAX_BATCH_FRAMES} frames`, () => {
    const r = recorder();
    const messages = Array.from({ length: 40 }, (_, i) => small(i + 1));
    for (const message of messages) r.writer.write(message);
    // The first full batches leave at once, so the peer can start on them while this side writes on.
    expect(r.writes().map(framesIn)).toEqual([MAX_BATCH_FRAMES, MAX_BATCH_FRAMES]);
    r.tick();
    expect(r.writes().map(framesIn)).toEqual([MAX_BATCH_FRAMES, MAX_BATCH_FRAMES, 40 - 2 * MAX_BATCH_FRAMES]);
    expect(r.decoded()).toEqual(messages.map(comparable));
  });

  test('a new tick starts a new batch', () => {
    const r = recorder();
    r.writer.write(small(1));
    r.tick();
    r.writer.write(small(2));
    r.writer.write(small(3));
    r.tick();
    expect(r.writes().map(framesIn)).toEqual([1, 2]);
    expect(r.decoded()).toEqual([small(1), small(2), small(3)].map(comparable));
  });
});

describe('FrameWriter: large bodies', () => {
  test(`a body of ${COPY_LIMIT} bytes or more is passed by reference: sinkMany gets its header, then the encoder's own bytes`, () => {
    const r = recorder();
    encoded.length = 0;
    const large = withBytes(2, COPY_LIMIT);
    r.writer.write(small(1));
    r.writer.write(large);
    r.writer.write(small(3));
    const largeBody = encoded[1]!;
    expect(largeBody.length).toBeGreaterThanOrEqual(COPY_LIMIT);
    r.tick();
    expect(r.calls).toHaveLength(1);
    const [call] = r.calls;
    expect(call!.via).toBe('sinkMany');
    expect(call!.chunks).toHaveLength(3);
    const [head, body, tail] = call!.chunks;
    expect(body).toBe(largeBody); // the same object: not copied
    // The chunk before it ends with the body's length prefix, after the whole first frame.
    expect(Buffer.from(head!.subarray(-4)).readUInt32BE(0)).toBe(largeBody.length);
    expect(framesIn(head!.subarray(0, -4))).toBe(1);
    expect(framesIn(tail!)).toBe(1);
    expect(r.decoded()).toEqual([small(1), comparable(large), small(3)]);
  });

  test(`a body just under ${COPY_LIMIT} bytes is copied: one chunk, to sink`, () => {
    const r = recorder();
    encoded.length = 0;
    r.writer.write(withBytes(1, COPY_LIMIT - 64));
    expect(encoded[0]!.length).toBeLessThan(COPY_LIMIT);
    r.writer.flush();
    expect(r.calls.map((c) => [c.via, c.chunks.length])).toEqual([['sink', 1]]);
    expect(r.decoded()).toEqual([comparable(withBytes(1, COPY_LIMIT - 64))]);
  });

  test('order is kept across any mix of small and large frames, over several slabs', () => {
    const r = recorder();
    const messages: unknown[] = [];
    for (let i = 1; i <= 60; i++) {
      const message = i % 3 === 0 ? withBytes(i, COPY_LIMIT + i * 100) : i % 3 === 1 ? withBytes(i, 9000 + i) : small(i);
      messages.push(comparable(message));
      r.writer.write(message);
      if (i % 7 === 0) r.tick();
    }
    r.tick();
    expect(r.decoded()).toEqual(messages);
    for (const bytes of r.writes()) expect(framesIn(bytes)).toBeLessThanOrEqual(MAX_BATCH_FRAMES);
  });
});

describe('FrameWriter: what was handed over stays as it was', () => {
  test('a chunk handed to the sink is never changed by later writes (a slab is never written twice)', () => {
    const r = recorder();
    // Enough bytes through the writer to fill several slabs, flushed at many different points.
    for (let i = 1; i <= 200; i++) {
      r.writer.write(i % 5 === 0 ? withBytes(i, 5000, i & 0xff) : small(i, 'x'.repeat(i)));
      if (i % 3 === 0) r.writer.flush();
      if (i % 11 === 0) r.tick();
    }
    r.tick();
    expect(r.calls.length).toBeGreaterThan(60);
    expect(r.mutated()).toBe(0);
    expect(r.decoded()).toHaveLength(200);
  });

  test('flush() is idempotent: a second flush, and the scheduled one, write nothing more', () => {
    const r = recorder();
    r.writer.flush(); // nothing written: nothing to send
    expect(r.calls).toHaveLength(0);
    r.writer.write(small(1));
    r.writer.write(withBytes(2, COPY_LIMIT * 2));
    r.writer.flush();
    expect(r.calls).toHaveLength(1);
    r.writer.flush();
    r.writer.flush();
    r.tick();
    expect(r.calls).toHaveLength(1);
    expect(r.writer.pending).toBe(0);
    expect(r.decoded()).toEqual([small(1), comparable(withBytes(2, COPY_LIMIT * 2))]);
  });
});

describe('FrameWriter: encoding errors', () => {
  const limits: ProtocolLimits = { maxFrameBytes: 64, maxDepth: 4 };

  test.each([
    ['over the frame size limit', small(2, 'x'.repeat(100)), 'FRAME_TOO_LARGE'],
    ['outside the data model', small(2, new Date(0)), 'UNENCODABLE'],
    ['nested too deep', small(2, [[[[['deep']]]]]), 'TOO_DEEP'],
  ] as const)('a message %s throws ProtocolError at write() and queues nothing', (_what, bad, reason) => {
    const r = recorder(limits);
    r.writer.write(small(1));
    const pending = r.writer.pending;
    let thrown: unknown;
    try {
      r.writer.write(bad);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ProtocolError);
    expect((thrown as ProtocolError).reason).toBe(reason);
    expect(r.writer.pending).toBe(pending);
    r.writer.write(small(3));
    r.tick();
    expect(r.decoded()).toEqual([small(1), small(3)]);
  });

  test('a refused first message sends nothing at all, even at the end of the tick', () => {
    const r = recorder(limits);
    expect(() => r.writer.write(small(1, 'x'.repeat(100)))).toThrow(ProtocolError);
    expect(r.writer.pending).toBe(0);
    r.tick();
    r.writer.flush();
    expect(r.calls).toHaveLength(0);
  });
});

describe('FrameWriter: property', () => {
  /** A payload: small JSON-ish values, byte strings on both sides of the copy limit, long text. */
  const payload = fc.oneof(
    { weight: 4, arbitrary: fc.oneof(fc.string({ maxLength: 40 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.nat(), { maxLength: 8 })) },
    { weight: 2, arbitrary: fc.record({ size: fc.integer({ min: 0, max: 12_000 }), fill: fc.nat({ max: 255 }) }).map(({ size, fill }) => new Uint8Array(size).fill(fill)) },
    { weight: 2, arbitrary: fc.record({ size: fc.integer({ min: COPY_LIMIT - 40, max: 70_000 }), fill: fc.nat({ max: 255 }) }).map(({ size, fill }) => new Uint8Array(size).fill(fill)) },
    { weight: 1, arbitrary: fc.record({ size: fc.integer({ min: 1, max: 40_000 }), c: fc.constantFrom('a', 'é', '€') }).map(({ size, c }) => c.repeat(size)) },
  );
  /** What the writer is asked to do: write a message, flush now, or end the tick. */
  const step = fc.oneof(
    { weight: 6, arbitrary: payload.map((p) => ({ kind: 'write' as const, p })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'tick' as const }) },
  );

  test('any sequence of messages, flushed at any points, decodes back to the same sequence', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const r = recorder();
        const written: unknown[] = [];
        for (const s of steps) {
          if (s.kind === 'write') {
            const message = small(written.length + 1, s.p);
            r.writer.write(message);
            written.push(comparable(message));
          } else if (s.kind === 'flush') {
            r.writer.flush();
          } else {
            r.tick();
            expect(r.writer.pending).toBe(0); // nothing is left behind at the end of a tick
          }
        }
        r.tick();
        expect(r.writer.pending).toBe(0);
        expect(r.decoded()).toEqual(written);
        for (const bytes of r.writes()) expect(framesIn(bytes)).toBeLessThanOrEqual(MAX_BATCH_FRAMES);
        expect(r.mutated()).toBe(0);
      }),
      { seed: 20_240_612, numRuns: 150 },
    );
  });
});
