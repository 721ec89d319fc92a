import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { faults, FAULT_GROUPS, FAULT_NAMES, mulberry32 } from 'umdkit/testing';
import { Planner } from '../../src/testing/plan.js';

/** Pure logic: the seeded PRNG and the schedules drawn from it (no processes here). */

describe('mulberry32', () => {
  it('is a pure function of its seed, in [0, 1)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (seed) => {
        const a = mulberry32(seed);
        const b = mulberry32(seed);
        for (let i = 0; i < 50; i++) {
          const x = a();
          expect(b()).toBe(x);
          expect(x >= 0 && x < 1).toBe(true);
        }
      }),
      { seed: 1, numRuns: 200 },
    );
  });

  it('spreads values evenly enough to schedule faults (each tenth gets 8-12% of 100,000 draws)', () => {
    const random = mulberry32(42);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) buckets[Math.floor(random() * 10)]!++;
    for (const count of buckets) expect(count).toBeGreaterThan(8000), expect(count).toBeLessThan(12_000);
    expect(mulberry32(1)()).not.toBe(mulberry32(2)());
  });
});

describe('faults.plan', () => {
  it('same spec and seed -> the same schedule; another seed -> another one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.dictionary(fc.constantFrom(...FAULT_NAMES), fc.double({ min: 0, max: 0.2, noNaN: true }), { minKeys: 1 }),
        fc.integer({ min: 1, max: 300 }),
        (seed, rates, requests) => {
          const a = faults.plan({ faults: rates, requests }, seed);
          expect(faults.plan({ faults: rates, requests }, seed)).toEqual(a);
          for (const entry of a.faults) {
            expect(rates[entry.fault]).toBeGreaterThan(0);
            expect(entry.request).toBeGreaterThanOrEqual(1);
            expect(entry.request).toBeLessThanOrEqual(requests);
            expect(entry.target >= 0 && entry.target < 1).toBe(true);
          }
        },
      ),
      { seed: 2, numRuns: 200 },
    );
    const spec = { faults: { kill: 0.05, hang: 0.05 }, requests: 2000 };
    expect(faults.plan(spec, 1).faults).not.toEqual(faults.plan(spec, 2).faults);
  });

  it('fires each fault at about its rate (binomial, far outside 5 standard deviations would fail)', () => {
    const { faults: planned } = faults.plan({ faults: { kill: 0.01, hang: 0.002 }, requests: 20_000 }, 7);
    const kills = planned.filter((f) => f.fault === 'kill').length;
    const hangs = planned.filter((f) => f.fault === 'hang').length;
    expect(Math.abs(kills - 200)).toBeLessThan(5 * Math.sqrt(200 * 0.99));
    expect(Math.abs(hangs - 40)).toBeLessThan(5 * Math.sqrt(40 * 0.998));
  });

  it('places `at` faults at exactly their request, with their parameters; fixed params win over drawn ones', () => {
    const { faults: planned } = faults.plan({ at: [{ request: 5, fault: 'exit', params: { code: 3 } }], params: { slow: { ms: 10 } }, faults: { slow: 1 }, requests: 5 }, 9);
    expect(planned.filter((f) => f.fault === 'exit')).toEqual([{ request: 5, fault: 'exit', params: { code: 3 }, target: expect.any(Number) }]);
    expect(planned.filter((f) => f.fault === 'slow').map((f) => [f.request, f.params.ms])).toEqual([[1, 10], [2, 10], [3, 10], [4, 10], [5, 10]]);
  });

  it('draws each fault\'s parameters from the seed, within their documented ranges', () => {
    const { faults: planned } = faults.plan({ faults: { all: 0.05 }, requests: 3000 }, 3);
    expect(new Set(planned.map((f) => f.fault))).toEqual(new Set(FAULT_NAMES));
    for (const f of planned) {
      if (f.fault === 'exit') expect(f.params.code! >= 1 && f.params.code! <= 120).toBe(true);
      if (f.fault === 'slow') expect(f.params.ms! >= 50 && f.params.ms! < 3000).toBe(true);
      if (f.fault === 'bitflip') expect(f.params.bit! >= 0 && f.params.bit! <= 7 && f.params.fraction! < 1).toBe(true);
    }
  });

  it('expands groups, and a fault named on its own wins over its group', () => {
    const { faults: planned } = faults.plan({ faults: { process: 0.02, kill: 0 }, requests: 3000 }, 4);
    const seen = new Set(planned.map((f) => f.fault));
    expect(seen).toEqual(new Set(FAULT_GROUPS.process.filter((n) => n !== 'kill')));
  });

  it('a lazy Planner gives the same faults as plan(), request by request, and nothing past spec.requests', () => {
    const spec = { faults: { kill: 0.1, garbage: 0.05 }, requests: 500 };
    const planner = new Planner(spec, 11);
    const lazy = Array.from({ length: 600 }, () => planner.next()).flat();
    expect(lazy).toEqual(faults.plan(spec, 11).faults);
  });

  it('refuses bad specs naming the value', () => {
    expect(() => faults.plan({ faults: { kill: 2 }, requests: 10 }, 1)).toThrow('spec.faults.kill must be a number between 0 and 1, got 2');
    expect(() => faults.plan({ faults: { klil: 0.1 } as never, requests: 10 }, 1)).toThrow(/spec.faults key must be one of kill, .*, got "klil"/);
    expect(() => faults.plan({ faults: {} }, 1)).toThrow('spec.requests must be a positive integer, got undefined');
    expect(() => faults.plan({ faults: {}, requests: 10 }, -1)).toThrow('seed must be an integer in [0, 4294967295], got -1');
    expect(() => faults.plan({ at: [{ request: 0, fault: 'kill' }], requests: 10 }, 1)).toThrow('spec.at[0].request must be a positive integer, got 0');
  });

  it('parses the CLI list, groups included, and refuses anything else', () => {
    expect(faults.parse('kill:0.01, hang:0.002,process:1e-3')).toEqual({ kill: 0.01, hang: 0.002, process: 0.001 });
    expect(() => faults.parse('kill=0.1')).toThrow('--faults must be a list of name:rate (e.g. kill:0.01,hang:0.002), got "kill=0.1"');
    expect(() => faults.parse('kill:1.5')).toThrow('--faults rate of kill must be a number between 0 and 1, got 1.5');
    expect(() => faults.parse('nuke:0.1')).toThrow(/"nuke" is not a fault or group/);
  });
});
