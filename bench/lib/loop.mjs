/**
 * Closed-loop load: keep `window` calls in flight, start the next as soon as one answers, for about
 * `durationMs` (or until `count` calls were started). Every implementation is driven by this same
 * code, so its cost is the same for all.
 *
 * @example
 * const { opsPerSec, p50us } = await closedLoop((p) => client.call(p), { window: 1, durationMs: 500, payload });
 */
export async function closedLoop(call, { window, durationMs = Infinity, count = Infinity, payload, recordLatency = window === 1 }) {
  const latencies = recordLatency ? new Float64Array(Math.min(count, 2_000_000)) : undefined;
  let completed = 0;
  let started = 0;
  let failed;
  const began = performance.now();
  const until = began + durationMs;
  const worker = async () => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= until || started >= count || failed) return;
      started++;
      try {
        await call(payload);
      } catch (err) {
        failed ??= err;
        return;
      }
      if (latencies !== undefined && completed < latencies.length) latencies[completed] = performance.now() - t0;
      completed++;
    }
  };
  const workers = [];
  for (let i = 0; i < window; i++) workers.push(worker());
  await Promise.all(workers);
  if (failed) throw failed;
  const elapsed = performance.now() - began;
  const result = { ops: completed, elapsedMs: elapsed, opsPerSec: (completed / elapsed) * 1000 };
  if (latencies !== undefined) {
    const sorted = latencies.subarray(0, Math.min(completed, latencies.length)).sort();
    result.p50us = sorted[Math.floor(sorted.length / 2)] * 1000;
  }
  return result;
}
