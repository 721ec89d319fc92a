import { describe, expect, it } from 'vitest';
import { failure, fixtureDriver, pidsOf, until, useManagers } from './harness.js';

/**
 * A handler that parsed something malicious must at worst crash itself. These frames are valid or
 * nearly valid CBOR written by a real handler process (test/fixtures/handlers/hostile.ts), read by
 * a real manager; before the item budget, the first one cost the parent ~1 GB of heap and ~8 s of
 * a blocked event loop, and four at once killed it.
 */

/**
 * Runs `work` while a 10 ms interval timer ticks, and returns what `work` gave plus the longest gap
 * between ticks: a behaviour check that the event loop kept turning, not a speed test.
 */
async function whileTicking<T>(work: () => Promise<T>): Promise<{ result: T; longestGapMs: number; ticks: number }> {
  let last = performance.now();
  let longestGapMs = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longestGapMs = Math.max(longestGapMs, now - last);
    last = now;
    ticks++;
  }, 10);
  try {
    const result = await work();
    return { result, longestGapMs: Math.max(longestGapMs, performance.now() - last), ticks };
  } finally {
    clearInterval(timer);
  }
}

describe('hostile answers cost the parent a bounded amount, and fault the handler', () => {
  const env = useManagers();
  // The hostile methods never settle after their raw answer: stop() kills rather than waits.
  const options = { heartbeatMs: false as const, shutdownMs: 'brutal_kill' as const, backoff: { initialMs: 10, maxMs: 50, jitter: 0 } };

  it('16 MiB of empty maps (16.7 M items): PROTOCOL (TOO_MANY_ITEMS), the loop keeps turning, the restarted handler answers', async () => {
    const manager = await env.start({ children: [await fixtureDriver('hostile', options)] });
    const [pid] = pidsOf(manager, 'hostile');
    const { result: error, longestGapMs, ticks } = await whileTicking(() => failure(manager.request('hostile', {}, { method: 'emptyMaps' })));
    expect(error).toMatchObject({ code: 'PROTOCOL' });
    expect(error.message).toMatch(/TOO_MANY_ITEMS: an array of 16777\d{3} items at byte \d+ takes the frame past 262144 data items/);
    expect(env.of('fault').map((e) => e.reason)).toEqual([expect.stringMatching(/^protocol: TOO_MANY_ITEMS/)]);
    // Loose on purpose (a shared machine): the old decoder blocked the loop for seconds.
    expect(ticks).toBeGreaterThan(0);
    expect(longestGapMs).toBeLessThan(2000);
    expect(await manager.request('hostile', 'after', { method: 'echo' })).toBe('after');
    expect(pidsOf(manager, 'hostile')[0]).not.toBe(pid);
    await manager.stop();
  });

  it('the same with the count left out (9f ... ff): the scan counts items and stops at the budget', async () => {
    const manager = await env.start({ children: [await fixtureDriver('hostile', options)] });
    const error = await failure(manager.request('hostile', { indefinite: true }, { method: 'emptyMaps' }));
    expect(error).toMatchObject({ code: 'PROTOCOL' });
    expect(error.message).toMatch(/TOO_MANY_ITEMS: a data item at byte \d+ takes the frame past 262144 data items/);
    expect(await manager.request('hostile', 'after', { method: 'echo' })).toBe('after');
    await manager.stop();
  });

  it('four at once, from a pool of four: every one is refused, the parent lives and serves', async () => {
    const manager = await env.start({
      intensity: { maxRestarts: 10, periodMs: 60_000 }, // four faults at once are not the tree's reason to give up here
      children: [await fixtureDriver('hostile', { ...options, instances: 4 })],
    });
    const { result: errors, longestGapMs } = await whileTicking(() =>
      Promise.all(Array.from({ length: 4 }, () => failure(manager.request('hostile', {}, { method: 'emptyMaps' })))));
    for (const error of errors) expect(error).toMatchObject({ code: 'PROTOCOL', message: expect.stringMatching(/TOO_MANY_ITEMS/) });
    expect(longestGapMs).toBeLessThan(2000);
    await until(() => manager.snapshot().inFlight === 0, 'nothing in flight');
    expect(await Promise.all([1, 2, 3, 4].map((n) => manager.request('hostile', n, { method: 'echo' })))).toEqual([1, 2, 3, 4]);
    await manager.stop();
  });

  it('a map of 1,000,000 keys: refused at its head, before one key is read', async () => {
    const manager = await env.start({ children: [await fixtureDriver('hostile', options)] });
    const error = await failure(manager.request('hostile', { keys: 1_000_000 }, { method: 'manyKeys' }));
    expect(error).toMatchObject({ code: 'PROTOCOL' });
    expect(error.message).toMatch(/TOO_MANY_ITEMS: a map of 1000000 entries at byte \d+/);
    await manager.stop();
  });

  it('a driver that expects large answers raises maxItems: the same 100,000-key map is then an answer', async () => {
    const manager = await env.start({ children: [await fixtureDriver('hostile', { ...options, maxItems: 200_100 })] });
    const value = (await manager.request('hostile', { keys: 100_000 }, { method: 'manyKeys' })) as Record<string, null>;
    expect(Object.keys(value)).toHaveLength(100_000);
    expect(value.k0).toBeNull();
    await manager.stop();
  });

  it('keys "\\xff" and "\\xfe" (both U+FFFD to a lax decoder): PROTOCOL (INVALID_UTF8), never one collapsed key', async () => {
    const manager = await env.start({ children: [await fixtureDriver('hostile', options)] });
    const error = await failure(manager.request('hostile', null, { method: 'invalidUtf8' }));
    expect(error).toMatchObject({ code: 'PROTOCOL' });
    expect(error.message).toMatch(/INVALID_UTF8: map key at byte \d+ is not valid UTF-8/);
    await manager.stop();
  });

  it('a non-ASCII string, then a string whose length uses the 8-byte head: a valid answer, decoded', async () => {
    // Refused MALFORMED (and the handler killed) by cbor-x's native string extractor.
    const manager = await env.start({ children: [await fixtureDriver('hostile', options)] });
    expect(await manager.request('hostile', null, { method: 'wideLength' })).toEqual(['é', 'a']);
    expect(env.of('fault')).toEqual([]);
    await manager.stop();
  });

  it('answers arriving slowly on every instance of a pool share the decode budget: each one still arrives, whole', async () => {
    // A budget smaller than one answer: the instances take turns (a frame larger than the budget is
    // read alone), and nothing deadlocks.
    const manager = await env.start({ children: [await fixtureDriver('hostile', { ...options, instances: 3, decodeBudgetBytes: 100_000 })] });
    const ask = () => manager.request('hostile', { bytes: 150_000, pieces: 10, gapMs: 5 }, { method: 'slowBulk' }) as Promise<Uint8Array>;
    const answers = await Promise.all([ask(), ask(), ask(), ask()]);
    for (const answer of answers) {
      expect(answer).toBeInstanceOf(Uint8Array);
      expect(answer.length).toBe(150_000);
      expect(answer.every((b) => b === 0x61)).toBe(true);
    }
    expect(env.of('fault')).toEqual([]);
    await manager.stop();
  });

  it('decodeBudgetBytes and maxItems are validated when the driver is defined', async () => {
    await expect(fixtureDriver('hostile', { decodeBudgetBytes: 0 })).rejects.toThrow('options.decodeBudgetBytes must be a positive integer, got 0');
    await expect(fixtureDriver('hostile', { maxItems: -1 })).rejects.toThrow('options.maxItems must be a positive integer, got -1');
  });
});
