import { ProtocolError } from './errors.js';
import type { DecodeBudget } from './budget.js';
import { decodeRange } from './codec.js';
import { DEFAULT_LIMITS, FRAME_HEADER_BYTES, MAX_FRAME_BYTES_LIMIT, type ProtocolLimits } from './limits.js';

/** Options of a {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest frame body accepted (default 16 MiB). */
  maxFrameBytes?: number;
  /** Deepest nesting accepted (default 64). */
  maxDepth?: number;
  /** Most data items in one frame (default 262144); counted before anything is built. */
  maxItems?: number;
  /**
   * Shared with other decoders (one per driver): a frame that is not all here yet takes its length
   * from it before its bytes are kept, and waits while it is spent.
   */
  budget?: DecodeBudget;
  /** Called with true when the decoder waits for the budget (stop reading), false when it may go on. */
  onStall?: (stalled: boolean) => void;
}

/**
 * A streaming decoder for v1 frames: feed it chunks as they come off a pipe, get whole messages.
 *
 * Chunks are kept in a list, never concatenated into one growing backlog: a frame is assembled
 * once, when all its bytes are here (and not at all when it lies inside one chunk). The length
 * prefix is checked before anything is allocated for the body. After the first error the decoder
 * is dead — a byte stream with a bad frame has lost its framing — and every later call throws the
 * same error.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
 * child.stdout.on('data', (chunk) => {
 *   for (const message of decoder.push(chunk)) handle(message);
 * });
 * child.stdout.on('end', () => decoder.end()); // throws TRUNCATED if a frame was cut
 * ```
 */
export class FrameDecoder {
  readonly limits: Required<ProtocolLimits>;
  private chunks: Uint8Array[] = [];
  /** Offset of the first unread byte in chunks[0]. */
  private head = 0;
  /** Unread bytes across all chunks. */
  private available = 0;
  /** Body length of the frame being read, once its prefix is known; -1 before. */
  private pending = -1;
  private failure: ProtocolError | undefined;
  private budget: DecodeBudget | undefined;
  private readonly onStall: ((stalled: boolean) => void) | undefined;
  /** Budget bytes held for the frame being read (0 when none). */
  private reserved = 0;
  /** Bytes this decoder waits for from the budget (0 when it does not wait). */
  private awaited = 0;
  /** Called by the budget when the awaited bytes are taken for this decoder. */
  private readonly granted = (): void => {
    this.reserved = this.awaited;
    this.awaited = 0;
    this.onStall?.(false);
  };

  constructor(options: FrameDecoderOptions = {}) {
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_LIMITS.maxFrameBytes;
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1 || maxFrameBytes > MAX_FRAME_BYTES_LIMIT) {
      throw new RangeError(`options.maxFrameBytes must be an integer between 1 and ${MAX_FRAME_BYTES_LIMIT}, got ${maxFrameBytes}`);
    }
    const maxDepth = options.maxDepth ?? DEFAULT_LIMITS.maxDepth;
    if (!Number.isInteger(maxDepth) || maxDepth < 1) {
      throw new RangeError(`options.maxDepth must be a positive integer, got ${maxDepth}`);
    }
    const maxItems = options.maxItems ?? DEFAULT_LIMITS.maxItems;
    if (!Number.isInteger(maxItems) || maxItems < 1) {
      throw new RangeError(`options.maxItems must be a positive integer, got ${maxItems}`);
    }
    this.limits = { maxFrameBytes, maxDepth, maxItems };
    this.budget = options.budget;
    this.onStall = options.onStall;
  }

  /** True while the decoder waits for its budget. */
  get stalled(): boolean {
    return this.awaited > 0;
  }

  /**
   * Bytes received but not yet returned as messages, the length prefix of a frame being read
   * included (so it never exceeds `maxFrameBytes + 4` between calls).
   */
  get buffered(): number {
    return this.available + (this.pending >= 0 ? FRAME_HEADER_BYTES : 0);
  }

  /**
   * Feeds one chunk; returns the messages it completed (possibly none). Throws `ProtocolError`;
   * messages completed earlier in the same chunk are then not returned (use {@link feed} to get
   * every message that preceded the bad frame).
   */
  push(chunk: Uint8Array): unknown[] {
    const messages: unknown[] = [];
    this.feed(chunk, (message) => messages.push(message));
    return messages;
  }

  /** Like {@link push} but hands each message to `sink` as soon as it is decoded. */
  feed(chunk: Uint8Array, sink: (message: unknown) => void): void {
    if (this.failure) throw this.failure;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.available += chunk.length;
    }
    try {
      for (;;) {
        if (this.pending < 0) {
          if (this.available < FRAME_HEADER_BYTES) return;
          const length = this.readLength();
          if (length === 0) throw new ProtocolError('EMPTY_FRAME', 'length prefix 0; a frame holds one data item');
          if (length > this.limits.maxFrameBytes) {
            throw new ProtocolError('FRAME_TOO_LARGE', `length prefix ${length} is over the limit of ${this.limits.maxFrameBytes} bytes`);
          }
          this.pending = length;
        }
        if (this.available < this.pending) {
          // The body must be kept across reads: take its bytes from the budget first.
          if (this.budget !== undefined && this.reserved === 0 && this.awaited === 0) {
            if (this.budget.acquire(this.pending, this.granted)) {
              this.reserved = this.pending;
            } else {
              this.awaited = this.pending;
              this.onStall?.(true);
            }
          }
          return;
        }
        // Bytes that came while waiting completed the frame: it is here, the wait is moot.
        if (this.awaited > 0) this.stopWaiting();
        const length = this.pending;
        const first = this.chunks[0]!;
        const start = this.head;
        let message: unknown;
        try {
          if (first.length - start >= length) {
            // The whole frame lies in one chunk (the usual case): decode it where it is.
            this.skip(length);
            this.pending = -1;
            message = decodeRange(first, start, start + length, this.limits);
          } else {
            const body = this.take(length);
            this.pending = -1;
            message = decodeRange(body, 0, length, this.limits);
          }
        } finally {
          if (this.reserved > 0) this.giveBack();
        }
        sink(message);
      }
    } catch (err) {
      this.failure = err instanceof ProtocolError ? err : new ProtocolError('MALFORMED', String(err), {}, { cause: err });
      this.detachBudget();
      this.chunks = [];
      this.head = 0;
      this.available = 0;
      this.pending = -1;
      throw this.failure;
    }
  }

  /**
   * Gives back what this decoder holds of its budget, stops waiting for it, and decodes without one
   * from now on. Call it when the stream's writer is gone (its process exited): what is left in the
   * pipe must still be read, and nothing may stay held on behalf of a dead peer.
   */
  detachBudget(): void {
    if (this.awaited > 0) this.stopWaiting();
    if (this.reserved > 0) this.giveBack();
    this.budget = undefined;
  }

  private stopWaiting(): void {
    this.budget!.cancel(this.granted);
    this.awaited = 0;
    this.onStall?.(false);
  }

  private giveBack(): void {
    const bytes = this.reserved;
    this.reserved = 0;
    this.budget!.release(bytes);
  }

  /** Declares the end of the stream; throws `TRUNCATED` if it ended inside a frame. */
  end(): void {
    if (this.failure) throw this.failure;
    this.detachBudget();
    if (this.available > 0 || this.pending >= 0) {
      const expected = this.pending >= 0 ? `a frame of ${this.pending} bytes` : 'a 4-byte length prefix';
      this.failure = new ProtocolError('TRUNCATED', `stream ended with ${this.available} byte(s) of ${expected}`);
      throw this.failure;
    }
  }

  /** Reads the 4-byte prefix, which may straddle chunks (read in place when it does not). */
  private readLength(): number {
    const first = this.chunks[0]!;
    const at = this.head;
    if (first.length - at >= FRAME_HEADER_BYTES) {
      this.skip(FRAME_HEADER_BYTES);
      return first[at]! * 0x1000000 + ((first[at + 1]! << 16) | (first[at + 2]! << 8) | first[at + 3]!);
    }
    const header = this.take(FRAME_HEADER_BYTES);
    return header[0]! * 0x1000000 + ((header[1]! << 16) | (header[2]! << 8) | header[3]!);
  }

  /** Consumes `n` bytes that lie in the first chunk. */
  private skip(n: number): void {
    this.available -= n;
    this.head += n;
    if (this.head === this.chunks[0]!.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }

  /** Removes `n` bytes from the front: a view when they lie in one chunk, else one copy. */
  private take(n: number): Uint8Array {
    const first = this.chunks[0]!;
    this.available -= n;
    if (first.length - this.head >= n) {
      const view = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return view;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const part = Math.min(chunk.length - this.head, n - filled);
      out.set(chunk.subarray(this.head, this.head + part), filled);
      filled += part;
      this.head += part;
      if (this.head === chunk.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return out;
  }
}
