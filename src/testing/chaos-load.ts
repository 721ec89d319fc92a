import { UMD_ERROR_CODES, UmdError } from '../errors.js';
import type { Manager } from '../manager/manager.js';
import type { ValidChaos } from './chaos-options.js';
import { liveHandlers } from './inject.js';
import { mulberry32 } from './prng.js';

/** The load of a chaos run: the workers that send requests, and the probes that check healing. */

/**
 * What the load saw.
 *
 * @example
 * ```ts
 * const { submitted, settled, lost }: LoadResult = await drive(manager, 'sample', 3000, options);
 * ```
 */
export interface LoadResult {
  submitted: number;
  settled: number;
  ok: number;
  lost: number;
  failedByCode: Record<string, number>;
  /** The first message seen for each failure code: why requests failed, not only how many. */
  firstMessages: Record<string, string>;
  unexpected: string[];
  latency: { p50: number; p99: number; max: number };
}

/**
 * `concurrency` workers, each sending its next request when the previous one settled; a request
 * not settled `graceMs` after its deadline (`timeoutMs`) counts as lost.
 *
 * @example
 * ```ts
 * const load = await drive(manager, 'sample', driver.requestTimeoutMs, options);
 * ```
 */
export async function drive(manager: Manager, name: string, timeoutMs: number, o: ValidChaos): Promise<LoadResult> {
  const idempotent = mulberry32((o.seed ^ 0x5bd1e995) >>> 0);
  const latencies: number[] = [];
  const failedByCode: Record<string, number> = {};
  const firstMessages: Record<string, string> = {};
  const unexpected: string[] = [];
  let next = 0;
  let submitted = 0;
  let settled = 0;
  let ok = 0;
  let lost = 0;

  const one = (i: number) =>
    new Promise<void>((done) => {
      const start = performance.now();
      submitted++;
      let finished = false;
      // A request that outlives its deadline by graceMs is lost: the worker moves on, and a late
      // settle is still counted (settled), so lost + late both show.
      const watchdog = setTimeout(() => {
        lost++;
        done();
      }, timeoutMs + o.graceMs);
      const settle = () => {
        if (finished) return;
        finished = true;
        clearTimeout(watchdog);
        settled++;
        latencies.push(performance.now() - start);
        if (settled % o.progressEvery === 0) o.onProgress?.(settled, o.requests);
        done();
      };
      manager
        .request(name, o.payload(i), { idempotent: idempotent() < o.idempotentShare, ...(o.method === undefined ? {} : { method: o.method }) })
        .then(
          () => {
            ok++;
            settle();
          },
          (err: unknown) => {
            if (err instanceof UmdError && (UMD_ERROR_CODES as readonly string[]).includes(err.code)) {
              failedByCode[err.code] = (failedByCode[err.code] ?? 0) + 1;
              firstMessages[err.code] ??= err.message;
            } else {
              unexpected.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
            }
            settle();
          },
        );
    });

  const worker = async () => {
    while (next < o.requests) await one(next++);
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  // Late settles of requests counted lost still arrive here before the counts are read.
  await new Promise((resolve) => setTimeout(resolve, 0));
  latencies.sort((a, b) => a - b);
  const at = (q: number) => (latencies.length === 0 ? 0 : Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! * 10) / 10);
  return { submitted, settled, ok, lost, failedByCode, firstMessages, unexpected, latency: { p50: at(0.5), p99: at(0.99), max: at(1) } };
}

/**
 * What the probes after healing saw: whether a whole round was answered, and if not, how the last
 * round went and the first failure in it (so a report can say why, not only that).
 *
 * @example
 * ```ts
 * const { healed, lastRound } = await probeUntilHealed(manager, 'sample', options);
 * ```
 */
export interface HealResult {
  healed: boolean;
  /** The last round, when none was answered in full: how many failed, and the first failure as `CODE: message`. */
  lastRound?: { failed: number; probes: number; first: string };
}

/**
 * The heal: no more faults (the schedule is stopped and its disk faults undone); then rounds of
 * probes until one round is answered in full. A handler that was stopped while idle is only found
 * out by the first request that reaches it, so the first round may still fail.
 *
 * @example
 * ```ts
 * const { healed } = await probeUntilHealed(manager, 'sample', options);
 * ```
 */
export async function probeUntilHealed(manager: Manager, name: string, o: ValidChaos): Promise<HealResult> {
  let lastRound: HealResult['lastRound'];
  for (let round = 0; round < 5; round++) {
    if (manager.stopped) break;
    await waitForLive(manager, name, 10_000);
    const results = await Promise.allSettled(Array.from({ length: o.probes }, (_, i) => manager.request(name, o.payload(i), o.method === undefined ? {} : { method: o.method })));
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length === 0) return { healed: true };
    const reason = failures[0]!.reason as { code?: unknown; message?: unknown };
    lastRound = { failed: failures.length, probes: o.probes, first: `${String(reason?.code ?? 'ERROR')}: ${String(reason?.message ?? reason)}` };
  }
  return { healed: false, ...(lastRound === undefined ? {} : { lastRound }) };
}

async function waitForLive(manager: Manager, name: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && !manager.stopped) {
    const snapshot = manager.snapshot();
    const total = countInstances(snapshot, name);
    if (liveHandlers(manager, name).length === total) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function countInstances(node: ReturnType<Manager['snapshot']>, name: string): number {
  if (node.kind === 'driver') return node.name === name ? (node.children ?? []).filter((i) => !i.spare).length : 0;
  return (node.children ?? []).reduce((n, child) => n + countInstances(child, name), 0);
}

