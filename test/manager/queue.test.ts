import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PendingRequest } from '../../src/manager/pending.js';
import { RequestQueue } from '../../src/manager/queue.js';

const request = (n: number) => new PendingRequest('d', undefined, n, 1000, false, 0, () => {});

describe('RequestQueue', () => {
  it('is FIFO; unshift puts a retry in front; a removed request is skipped and not counted', () => {
    const queue = new RequestQueue();
    const [a, b, c, d] = [1, 2, 3, 4].map(request);
    queue.push(a!);
    queue.push(b!);
    queue.push(c!);
    queue.remove(b!);
    expect(queue.length).toBe(2);
    queue.unshift(d!);
    expect([...queue.drain()].map((r) => r.payload)).toEqual([4, 1, 3]);
    expect(queue.length).toBe(0);
    expect(queue.shift()).toBeUndefined();
    queue.remove(a!); // not queued any more: a no-op, the count stays right
    expect(queue.length).toBe(0);
  });

  it('matches a plain array under any interleaving of push, unshift, shift and remove (length never negative)', () => {
    const op = fc.oneof(
      fc.constant({ kind: 'push' as const }),
      fc.constant({ kind: 'unshift' as const }),
      fc.constant({ kind: 'shift' as const }),
      fc.nat(50).map((at) => ({ kind: 'remove' as const, at })),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
        const queue = new RequestQueue();
        const model: PendingRequest[] = [];
        const all: PendingRequest[] = [];
        for (const o of ops) {
          if (o.kind === 'push' || o.kind === 'unshift') {
            const r = request(all.length);
            all.push(r);
            if (o.kind === 'push') {
              queue.push(r);
              model.push(r);
            } else {
              queue.unshift(r);
              model.unshift(r);
            }
          } else if (o.kind === 'shift') {
            expect(queue.shift()).toBe(model.shift());
          } else if (all.length > 0) {
            const r = all[o.at % all.length]!;
            queue.remove(r);
            const at = model.indexOf(r);
            if (at >= 0) model.splice(at, 1);
          }
          expect(queue.length).toBe(model.length);
        }
        expect([...queue.drain()]).toEqual(model);
      }),
      { numRuns: 200 },
    );
  });
});
