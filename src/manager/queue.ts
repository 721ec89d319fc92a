import type { PendingRequest } from './pending.js';

/**
 * The FIFO of requests waiting for an instance. An array with a moving head: push and shift are
 * O(1), and a request withdrawn while queued (abort, deadline) is only flagged, then skipped, so it
 * leaves no O(n) splice on the way out. `request.queued` is the single truth of membership.
 */
export class RequestQueue {
  private items: Array<PendingRequest | undefined> = [];
  private head = 0;
  private live = 0;

  /** Requests waiting (settled ones already discounted). */
  get length(): number {
    return this.live;
  }

  push(request: PendingRequest): void {
    request.queued = true;
    this.items.push(request);
    this.live++;
  }

  /** Puts a request back at the front (a retry goes before newer work). */
  unshift(request: PendingRequest): void {
    request.queued = true;
    if (this.head > 0) this.items[--this.head] = request;
    else this.items.unshift(request);
    this.live++;
  }

  /** The oldest live request, or undefined. */
  shift(): PendingRequest | undefined {
    while (this.head < this.items.length) {
      const request = this.items[this.head];
      this.items[this.head++] = undefined;
      if (request !== undefined && request.queued) {
        request.queued = false;
        this.live--;
        this.compact();
        return request;
      }
    }
    this.compact();
    return undefined;
  }

  /** Withdraws a queued request (it settled elsewhere); no-op if it is not queued. */
  remove(request: PendingRequest): void {
    if (!request.queued) return;
    request.queued = false;
    this.live--;
  }

  /** Removes and yields every live request. */
  *drain(): Iterable<PendingRequest> {
    for (let request = this.shift(); request !== undefined; request = this.shift()) yield request;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
