import type { PendingRequest } from './pending.js';
import type { Clock } from './clock.js';

/**
 * Every request's deadline in one binary min-heap with one timer armed for the earliest — not a
 * timer per request (a timer per request costs an allocation and a libuv handle on the hot path).
 */
export class DeadlineHeap {
  private heap: PendingRequest[] = [];
  private timer: ReturnType<Clock['setTimeout']> | undefined;
  private armedFor = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly onExpired: (request: PendingRequest) => void,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  add(request: PendingRequest): void {
    request.heapIndex = this.heap.length;
    this.heap.push(request);
    this.up(request.heapIndex);
    if (request.deadline < this.armedFor) this.arm();
  }

  remove(request: PendingRequest): void {
    const index = request.heapIndex;
    if (index < 0) return;
    const last = this.heap.pop()!;
    request.heapIndex = -1;
    if (index < this.heap.length) {
      this.heap[index] = last;
      last.heapIndex = index;
      this.down(index);
      this.up(index);
    }
    // The timer may now fire early for nothing; that is cheaper than re-arming on every removal.
  }

  /** Cancels the timer (on stop). */
  clear(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private arm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    const first = this.heap[0];
    if (first === undefined) {
      this.timer = undefined;
      this.armedFor = Infinity;
      return;
    }
    this.armedFor = first.deadline;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, first.deadline - this.clock.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = this.clock.now();
    // Expire everything due; callbacks may add or remove entries, so re-read the top each time.
    for (let top = this.heap[0]; top !== undefined && top.deadline <= now; top = this.heap[0]) {
      this.remove(top);
      this.onExpired(top);
    }
    this.arm();
  }

  private up(index: number): void {
    const heap = this.heap;
    const item = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (parent.deadline <= item.deadline) break;
      heap[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    heap[index] = item;
    item.heapIndex = index;
  }

  private down(index: number): void {
    const heap = this.heap;
    const length = heap.length;
    const item = heap[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && heap[right]!.deadline < heap[left]!.deadline ? right : left;
      if (heap[child]!.deadline >= item.deadline) break;
      heap[index] = heap[child]!;
      heap[index]!.heapIndex = index;
      index = child;
    }
    heap[index] = item;
    item.heapIndex = index;
  }
}
