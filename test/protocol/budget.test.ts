import { describe, expect, test } from 'vitest';
import { DecodeBudget, encodeFrame, FrameDecoder } from '../../src/protocol/index.js';

/** A frame whose body is about `bytes` long (a byte string payload). */
const bulk = (id: number, bytes: number) => encodeFrame({ t: 'res', id, ok: true, p: new Uint8Array(bytes) });

describe('DecodeBudget', () => {
  test('takes what fits, queues the rest in order, admits waiters as bytes come back', () => {
    const budget = new DecodeBudget(100);
    const granted: string[] = [];
    expect(budget.acquire(60, () => granted.push('a'))).toBe(true);
    expect(budget.acquire(50, () => granted.push('b'))).toBe(false);
    // A small one that would fit does not pass the waiter ahead of it.
    expect(budget.acquire(10, () => granted.push('c'))).toBe(false);
    expect(budget.heldBytes).toBe(60);
    budget.release(60);
    expect(granted).toEqual(['b', 'c']);
    expect(budget.heldBytes).toBe(60);
    budget.release(50);
    budget.release(10);
    expect(budget.heldBytes).toBe(0);
  });

  test('a frame larger than the whole budget is admitted when nothing else is held: it never waits forever', () => {
    const budget = new DecodeBudget(10);
    const granted: string[] = [];
    expect(budget.acquire(5, () => granted.push('small'))).toBe(true);
    expect(budget.acquire(1000, () => granted.push('huge'))).toBe(false);
    budget.release(5);
    expect(granted).toEqual(['huge']);
    expect(budget.heldBytes).toBe(1000);
  });

  test('a cancelled waiter is skipped, and those behind it are admitted', () => {
    const budget = new DecodeBudget(100);
    const granted: string[] = [];
    budget.acquire(90, () => {});
    const first = () => granted.push('first');
    budget.acquire(50, first);
    budget.acquire(10, () => granted.push('second'));
    expect(budget.cancel(first)).toBe(true);
    expect(granted).toEqual(['second']);
    expect(budget.cancel(first)).toBe(false);
  });

  test('the limit is validated', () => {
    expect(() => new DecodeBudget(0)).toThrow('options.decodeBudgetBytes must be a positive integer, got 0');
  });
});

describe('FrameDecoder with a budget', () => {
  test('a frame that lies whole in a chunk takes nothing from the budget', () => {
    const budget = new DecodeBudget(1);
    budget.acquire(1, () => {}); // spent
    const decoder = new FrameDecoder({ budget });
    expect(decoder.push(bulk(1, 1000))).toHaveLength(1);
    expect(decoder.stalled).toBe(false);
  });

  test('a frame still arriving takes its length; a second decoder waits (stall), and goes on when the first is decoded', () => {
    const budget = new DecodeBudget(1500);
    const stalls: boolean[] = [];
    const a = new FrameDecoder({ budget });
    const b = new FrameDecoder({ budget, onStall: (stalled) => stalls.push(stalled) });
    const fa = bulk(1, 1000);
    const fb = bulk(2, 1000);
    expect(a.push(fa.subarray(0, 100))).toEqual([]);
    expect(budget.heldBytes).toBe(fa.length - 4);
    expect(b.push(fb.subarray(0, 100))).toEqual([]);
    expect(b.stalled).toBe(true);
    expect(stalls).toEqual([true]);
    expect(a.push(fa.subarray(100))).toHaveLength(1); // decoded: its bytes go back, b is admitted
    expect(stalls).toEqual([true, false]);
    expect(b.stalled).toBe(false);
    expect(budget.heldBytes).toBe(fb.length - 4);
    expect(b.push(fb.subarray(100))).toHaveLength(1);
    expect(budget.heldBytes).toBe(0);
  });

  test('a bad frame, the end of the stream, or detachBudget give back what the decoder held', () => {
    const budget = new DecodeBudget(1 << 20);
    const frame = bulk(1, 1000);
    const cut = new FrameDecoder({ budget });
    cut.push(frame.subarray(0, 10));
    expect(budget.heldBytes).toBeGreaterThan(0);
    expect(() => cut.end()).toThrow(/TRUNCATED/);
    expect(budget.heldBytes).toBe(0);

    const bad = new FrameDecoder({ budget });
    const damaged = Uint8Array.from(frame);
    damaged[4] = 0xc1; // a tag where the map should start
    bad.push(damaged.subarray(0, 10));
    expect(() => bad.push(damaged.subarray(10))).toThrow(/TAG/);
    expect(budget.heldBytes).toBe(0);

    const detached = new FrameDecoder({ budget });
    detached.push(frame.subarray(0, 10));
    detached.detachBudget();
    expect(budget.heldBytes).toBe(0);
    expect(detached.push(frame.subarray(10))).toHaveLength(1);
  });

  test('a waiting decoder that is detached (its process exited) stops waiting and reads on', () => {
    const budget = new DecodeBudget(1000);
    budget.acquire(1000, () => {});
    const stalls: boolean[] = [];
    const decoder = new FrameDecoder({ budget, onStall: (s) => stalls.push(s) });
    const frame = bulk(1, 2000);
    decoder.push(frame.subarray(0, 50));
    expect(budget.waiters).toBe(1);
    decoder.detachBudget();
    expect(budget.waiters).toBe(0);
    expect(stalls).toEqual([true, false]);
    expect(decoder.push(frame.subarray(50))).toHaveLength(1);
  });
});
