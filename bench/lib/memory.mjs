import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';
import { closedLoop } from './loop.mjs';

/** A full garbage collection, without needing `node --expose-gc`. */
export const gc = (() => {
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc');
  return () => {
    collect();
    collect();
  };
})();

const mb = (bytes) => bytes / (1024 * 1024);

/**
 * Parent RSS and heap before and after `total` requests (after a warm-up and a full GC each time),
 * with the peak RSS sampled while they run.
 *
 * @example
 * const { rssGrowthMb } = await memoryOverRequests(echo, { total: 1_000_000, window: 64, payload });
 */
export async function memoryOverRequests(client, { total, window, payload, warmup = 100_000 }) {
  await closedLoop(client.call, { window, count: warmup, payload });
  gc();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 50);
  const run = await closedLoop(client.call, { window, count: total, payload });
  clearInterval(sampler);
  gc();
  const after = process.memoryUsage();
  return {
    requests: run.ops,
    opsPerSec: run.opsPerSec,
    rssBeforeMb: mb(before.rss),
    rssAfterMb: mb(after.rss),
    rssPeakMb: mb(peakRss),
    rssGrowthMb: mb(after.rss - before.rss),
    heapBeforeMb: mb(before.heapUsed),
    heapAfterMb: mb(after.heapUsed),
    heapGrowthMb: mb(after.heapUsed - before.heapUsed),
  };
}

/**
 * Heap bytes per queued request: one request holds the only instance (method `hold` never
 * answers), `count` more wait in the driver's queue; the heap is measured before and after (full
 * GC both times). The caller's promises are counted too: they are what a caller holds.
 *
 * @example
 * const { bytesPerRequest } = await queuedOverhead(startUmdkit, driver, { count: 100_000 });
 */
export async function queuedOverhead(manager, { count }) {
  const held = manager.request('echo', null, { method: 'hold' }).catch(() => {});
  while (manager.snapshot().children[0].inFlight === 0) await sleep(1);
  const promises = new Array(count).fill(null); // allocated before the baseline: not counted
  const payload = 'the same payload for all';
  const options = { method: 'echo' };
  gc();
  const before = process.memoryUsage();
  for (let i = 0; i < count; i++) promises[i] = manager.request('echo', payload, options);
  gc();
  const after = process.memoryUsage();
  const queued = manager.snapshot().children[0].queued;
  for (const promise of promises) promise.catch(() => {});
  await manager.stop({ drainMs: 0 }); // every queued request settles, STOPPED
  await held;
  return {
    queued,
    bytesPerRequest: (after.heapUsed - before.heapUsed) / count,
    rssPerRequest: (after.rss - before.rss) / count,
  };
}
