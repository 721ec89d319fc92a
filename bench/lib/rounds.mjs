import { cpuMeter } from './cpu.mjs';
import { closedLoop } from './loop.mjs';
import { median } from './stats.mjs';

/**
 * Runs every implementation of one section round after round, alternating them (each round starts
 * one further along the list), so slow phases of a noisy machine hit all of them alike. Returns,
 * per implementation, every round's rate, p50 latency and CPU per operation.
 *
 * @example
 * const results = await interleaved([raw, umdkit], { rounds: 5, window: 64, durationMs: 1000, warmupMs: 300, payload });
 */
export async function interleaved(impls, { rounds, window, durationMs, warmupMs, payload, bytesPerOp = 0 }) {
  for (const impl of impls) await closedLoop(impl.call, { window, durationMs: warmupMs, payload });
  const results = impls.map((impl) => ({ name: impl.name, rates: [], p50us: [], cpuUsPerOp: [] }));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < impls.length; k++) {
      const index = (round + k) % impls.length;
      const impl = impls[index];
      const stop = cpuMeter(impl.pids());
      const run = await closedLoop(impl.call, { window, durationMs, payload });
      const cpu = stop();
      const result = results[index];
      result.rates[round] = bytesPerOp > 0 ? (run.opsPerSec * bytesPerOp) / 1e9 : run.opsPerSec;
      if (run.p50us !== undefined) result.p50us[round] = run.p50us;
      result.cpuUsPerOp[round] = (cpu.parentUs + cpu.childUs) / run.ops;
    }
  }
  return results;
}

/**
 * The median over rounds of `a`'s rate divided by `b`'s in the same round: a ratio measured side
 * by side, which is what counts on a shared machine.
 *
 * @example
 * ratio(umdkit, raw); // 1.07
 */
export function ratio(a, b) {
  return median(a.rates.map((rate, round) => rate / b.rates[round]));
}
