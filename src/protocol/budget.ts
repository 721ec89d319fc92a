/**
 * Bytes of frames that several decoders (the instances of one driver) may hold at once while the
 * frames are still arriving. A frame whose body is not all here yet takes its length from the
 * budget before its bytes are kept; when the budget is spent, that decoder waits (its owner stops
 * reading the pipe, so the handler blocks on its write) until frames of others are decoded. Without
 * it, every instance of a pool could hold a frame of `maxFrameBytes` half-read at once.
 *
 * Waiters are served in arrival order (a large frame is not starved by small ones), and a frame
 * larger than the whole budget is admitted when nothing else is held, so no frame waits forever.
 *
 * @example
 * ```ts
 * const budget = new DecodeBudget(64 << 20);
 * const decoder = new FrameDecoder({ budget, onStall: (stalled) => (stalled ? stdout.pause() : stdout.resume()) });
 * ```
 */
export class DecodeBudget {
  private held = 0;
  private readonly waiting: Array<{ bytes: number; grant: () => void }> = [];

  constructor(readonly limitBytes: number) {
    if (!Number.isInteger(limitBytes) || limitBytes < 1) {
      throw new RangeError(`options.decodeBudgetBytes must be a positive integer, got ${limitBytes}`);
    }
  }

  /** Bytes taken and not yet given back. */
  get heldBytes(): number {
    return this.held;
  }

  /** Frames waiting for the budget. */
  get waiters(): number {
    return this.waiting.length;
  }

  /** Takes `bytes` and returns true if they fit now; otherwise queues `grant`, called once they are taken for the caller. */
  acquire(bytes: number, grant: () => void): boolean {
    if (this.waiting.length === 0 && this.fits(bytes)) {
      this.held += bytes;
      return true;
    }
    this.waiting.push({ bytes, grant });
    return false;
  }

  /** Gives back `bytes` taken earlier, then admits waiters in order while they fit. */
  release(bytes: number): void {
    this.held -= bytes;
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.held += next.bytes;
      next.grant();
    }
  }

  /** Withdraws a queued `grant` (its decoder no longer waits); true if it was queued. */
  cancel(grant: () => void): boolean {
    const at = this.waiting.findIndex((w) => w.grant === grant);
    if (at < 0) return false;
    this.waiting.splice(at, 1);
    // The head may have been what held the others back.
    if (at === 0) this.release(0);
    return true;
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limitBytes;
  }
}
