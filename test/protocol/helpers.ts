import { expect } from 'vitest';
import { FrameDecoder, ProtocolError, type FrameDecoderOptions, type ProtocolReason } from '../../src/protocol/index.js';

/** Bytes from hex; spaces and newlines are ignored so vectors can be annotated. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(clean)) throw new Error(`bad hex: ${text}`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

/** Hex of some bytes (lowercase, no spaces). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** A frame around a body given in hex: the 4-byte big-endian length, then the body. */
export function frameOf(bodyHex: string): Uint8Array {
  const body = hex(bodyHex);
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, 4);
  return frame;
}

/** Concatenates byte arrays (test-side helper; the decoder itself never concatenates). */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Runs `fn` and returns what it threw; fails the test if it did not throw. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw, but the call returned normally');
}

/** Asserts `fn` throws a ProtocolError with `reason` (and, optionally, a message matching `message`). */
export function expectReason(fn: () => unknown, reason: ProtocolReason, message?: RegExp): ProtocolError {
  const err = thrownBy(fn);
  expect(err).toBeInstanceOf(ProtocolError);
  const protocolError = err as ProtocolError;
  expect({ reason: protocolError.reason, code: protocolError.code }).toEqual({ reason, code: 'PROTOCOL' });
  if (message) expect(protocolError.message).toMatch(message);
  return protocolError;
}

/** Splits `bytes` at the given offsets (sorted, deduplicated, kept inside the array). */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    pieces.push(bytes.subarray(from, point));
    from = point;
  }
  return pieces;
}

/** Feeds `pieces` to a fresh decoder, then ends the stream; returns every message. */
export function decodeStream(pieces: readonly Uint8Array[], options?: FrameDecoderOptions): unknown[] {
  const decoder = new FrameDecoder(options);
  const messages: unknown[] = [];
  for (const piece of pieces) messages.push(...decoder.push(piece));
  decoder.end();
  return messages;
}

/**
 * Byte strings come back as Buffer views or plain Uint8Arrays depending on where the frame lay;
 * both are Uint8Array. Turns every byte string into a plain Uint8Array so deep equality compares
 * contents, not the subclass.
 */
export function plainBytes(value: unknown): unknown {
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  if (Array.isArray(value)) return value.map(plainBytes);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plainBytes(item)]));
  }
  return value;
}
