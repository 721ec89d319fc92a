import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DeadlineHeap } from '../../src/manager/deadlines.js';
import { PendingRequest } from '../../src/manager/pending.js';
import { ManualClock } from './manual-clock.js';

const request = (deadline: number) => new PendingRequest('d', undefined, deadline, deadline, false, 0, () => {});

describe('DeadlineHeap', () => {
  it('fires each deadline once, in deadline order, at its time; a removed one never fires; one timer at a time', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const heap = new DeadlineHeap(clock, (r) => fired.push(r.deadline));
    const [r300, r100, r200, r150] = [300, 100, 200, 150].map(request);
    for (const r of [r300, r100, r200, r150]) heap.add(r!);
    expect(clock.pending).toBe(1);
    heap.remove(r150!);
    clock.advance(99);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([100]);
    clock.advance(500);
    expect(fired).toEqual([100, 200, 300]);
    expect(heap.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('under any mix of adds, removes and time steps: exactly the requests not removed fire, each once, never early', () => {
    const op = fc.oneof(
      fc.integer({ min: 0, max: 1000 }).map((ms) => ({ kind: 'add' as const, ms })),
      fc.nat(100).map((at) => ({ kind: 'remove' as const, at })),
      fc.integer({ min: 0, max: 300 }).map((ms) => ({ kind: 'advance' as const, ms })),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const clock = new ManualClock();
        const fired = new Map<PendingRequest, number>();
        const heap = new DeadlineHeap(clock, (r) => {
          expect(clock.now()).toBeGreaterThanOrEqual(r.deadline);
          fired.set(r, (fired.get(r) ?? 0) + 1);
        });
        const added: PendingRequest[] = [];
        const removed = new Set<PendingRequest>();
        for (const o of ops) {
          if (o.kind === 'add') {
            const r = request(clock.now() + o.ms);
            added.push(r);
            heap.add(r);
          } else if (o.kind === 'remove' && added.length > 0) {
            const r = added[o.at % added.length]!;
            if (!fired.has(r)) {
              heap.remove(r);
              removed.add(r);
            }
          } else if (o.kind === 'advance') {
            clock.advance(o.ms);
          }
        }
        clock.advance(2000);
        for (const r of added) expect(fired.get(r) ?? 0).toBe(removed.has(r) ? 0 : 1);
        expect(heap.size).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
