import type { ManagerEvent } from '../manager/events.js';
import { positiveInteger } from '../util/options.js';

/**
 * Request counts and latency percentiles per driver, computed from `request` events over a
 * sliding window of recent requests (bounded memory however long the service runs).
 */

/** What one driver's requests look like right now. */
export interface DriverRequestStats {
  /** Requests settled since the stats started. */
  requests: number;
  ok: number;
  failed: number;
  /** Settled requests by outcome ('OK' or a UmdError code). */
  byOutcome: Record<string, number>;
  /** Median latency (ms) over the window, or null before the first request. */
  p50Ms: number | null;
  /** 99th percentile latency (ms) over the window, or null before the first request. */
  p99Ms: number | null;
}

/** Stats per driver name. */
export type RequestStatsSummary = Record<string, DriverRequestStats>;

/**
 * Collects `request` events.
 *
 * @example
 * ```ts
 * const stats = new RequestStats();
 * const off = manager.subscribe((e) => stats.observe(e));
 * // ... later
 * stats.summary().parser?.p99Ms;
 * ```
 */
export class RequestStats {
  private readonly drivers = new Map<string, { requests: number; ok: number; byOutcome: Record<string, number>; window: number[]; next: number }>();

  /** `window`: how many recent latencies per driver the percentiles are taken over (default 1000). */
  constructor(private readonly window = 1000) {
    positiveInteger('window', window);
  }

  /** Takes in one event; everything but `request` events is ignored. */
  observe(event: ManagerEvent): void {
    if (event.type !== 'request') return;
    let driver = this.drivers.get(event.driver);
    if (driver === undefined) {
      driver = { requests: 0, ok: 0, byOutcome: {}, window: [], next: 0 };
      this.drivers.set(event.driver, driver);
    }
    driver.requests++;
    if (event.outcome === 'OK') driver.ok++;
    driver.byOutcome[event.outcome] = (driver.byOutcome[event.outcome] ?? 0) + 1;
    if (driver.window.length < this.window) driver.window.push(event.latencyMs);
    else driver.window[driver.next] = event.latencyMs;
    driver.next = (driver.next + 1) % this.window;
  }

  /** The stats of every driver seen so far. */
  summary(): RequestStatsSummary {
    const out: RequestStatsSummary = {};
    for (const [name, d] of this.drivers) {
      const sorted = [...d.window].sort((a, b) => a - b);
      out[name] = { requests: d.requests, ok: d.ok, failed: d.requests - d.ok, byOutcome: { ...d.byOutcome }, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) };
    }
    return out;
  }
}

/**
 * The nearest-rank quantile of ascending `sorted` values (null when empty).
 *
 * @example
 * ```ts
 * quantile([1, 2, 3, 4], 0.5); // 2
 * ```
 */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}
