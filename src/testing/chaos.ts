import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { defineDriver, type DriverOptions } from '../manager/driver.js';
import { createManager, type Manager } from '../manager/manager.js';
import type { ManagerOptions } from '../manager/options.js';
import type { ManagerEvent } from '../manager/events.js';
import { faultInfo, type FaultName } from './catalogue.js';
import { drive, probeUntilHealed } from './chaos-load.js';
import { loadDriverModule, validateChaosOptions, type ChaosOptions } from './chaos-options.js';
import { createFaultyManager } from './create.js';
import { labOf } from './lab.js';
import { identify, survivors, type ProcessIdentity } from './processes.js';
import { schedule } from './schedule.js';
import { countEntries, execCapableBase } from './chaos-root.js';

export type { ChaosOptions } from './chaos-options.js';

/**
 * `runChaos`: drive load at one driver while a seeded schedule injects faults, heal, stop, and
 * check the promises of DESIGN.md on what is left: every request settled exactly once with a code
 * from the closed set, no process alive, no file left in the (private) extraction root.
 */

/**
 * What a chaos run found. `violations` is empty when every invariant held.
 *
 * @example
 * ```ts
 * const report: ChaosReport = await runChaos(options);
 * console.log(report.ok, report.failedByCode, report.latencyMs.p99);
 * ```
 */
export interface ChaosReport {
  driver: string;
  seed: number;
  requests: number;
  concurrency: number;
  /** The rates in force, groups expanded. */
  faults: Partial<Record<FaultName, number>>;
  /** Whether handlers ran behind the fault shim (only needed for non-signal faults). */
  shim: boolean;
  submitted: number;
  settled: number;
  ok: number;
  failedByCode: Record<string, number>;
  /** The first message seen for each code of `failedByCode`: why requests failed. */
  firstMessages: Record<string, string>;
  /** Requests not settled within their deadline plus `graceMs` (must be 0). */
  lost: number;
  /** Requests the manager settled more than once (must be 0). */
  doubleSettled: number;
  /** Rejections that are not a UmdError with a code from the closed set (must be 0). */
  unexpectedErrors: number;
  /** Processes still alive after stop (must be 0). */
  orphans: number;
  orphanPids: number[];
  /** Entries left in the extraction root after stop (must be 0). */
  leftoverFiles: number;
  restarts: number;
  /** Processes the manager spawned. */
  spawned: number;
  injected: Partial<Record<FaultName, number>>;
  skipped: Partial<Record<FaultName, number>>;
  /** sha256 of the faults planned for these requests: equal seeds give equal digests. */
  scheduleDigest: string;
  planned: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** After the load, the driver answered a whole round of probes. */
  healed: boolean;
  gaveUp: string | null;
  durationMs: number;
  /** Every invariant that broke, in words. */
  violations: string[];
}

/** Chaos defaults: quick to notice a hang, generous enough never to give up under a fault storm. */
const DRIVER_DEFAULTS: Partial<DriverOptions> = {
  instances: 2,
  concurrency: 4,
  requestTimeoutMs: 3000,
  heartbeatMs: 250,
  startTimeoutMs: 3000,
  shutdownMs: 1000,
  backoff: { initialMs: 10, maxMs: 200, jitter: 0.2, resetAfterMs: 1000 },
};
const INTENSITY = { maxRestarts: 100_000, periodMs: 1000 };

/**
 * Runs one chaos experiment and reports; never throws for a broken invariant (that is what
 * `violations` is for), only for bad options or a driver module that cannot be loaded.
 *
 * @example
 * ```ts
 * import { runChaos } from 'umdkit/testing';
 * const report = await runChaos({ driver: 'sample.driver.mjs', requests: 20_000, concurrency: 8, faults: 'process:0.001', seed: 7 });
 * process.exitCode = report.violations.length === 0 ? 0 : 1;
 * ```
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  return runChaosWith(options, startManager);
}

/**
 * Starts the manager of a chaos run (behind the fault shim when a fault needs it). The run's
 * `onEvent` is in `options`: everything the checks count is seen through it.
 *
 * @example
 * ```ts
 * const manager = await startManager({ children: [driver], runtimeDir: root, onEvent }, false);
 * ```
 */
export type StartManager = (options: ManagerOptions & { runtimeDir: string; onEvent: (event: ManagerEvent) => void }, shim: boolean) => Promise<Manager>;

const startManager: StartManager = (options, shim) => (shim ? createFaultyManager(options) : createManager(options));

/**
 * {@link runChaos} with the manager's start given: the detector tests start a deliberately broken
 * manager (one that loses a request, settles one twice, leaks a process or a directory) and see
 * the report catch it. Not part of `umdkit/testing`.
 *
 * @example
 * ```ts
 * const report = await runChaosWith(options, async (o, shim) => brokenWrapper(await startManager(o, shim)));
 * ```
 */
export async function runChaosWith(options: ChaosOptions, start: StartManager): Promise<ChaosReport> {
  const o = validateChaosOptions(options);
  const started = performance.now();
  const base = await loadDriverModule(o.driver);
  const driver = defineDriver({ ...DRIVER_DEFAULTS, maxQueue: Math.max(1000, 2 * o.concurrency), ...base, ...o.driverOptions, ...(o.validate === undefined ? {} : { validate: o.validate }) });
  const rates = Object.fromEntries(o.rates) as Partial<Record<FaultName, number>>;
  const needsShim = o.rates.some(([name]) => faultInfo(name).mechanism === 'shim');
  const root = await mkdtemp(join(execCapableBase(), 'umdkit-chaos-'));

  const spawned: ProcessIdentity[] = [];
  const settleEvents = new Map<string, number>();
  let restarts = 0;
  const onEvent = (event: ManagerEvent) => {
    if (event.type === 'spawn') spawned.push(identify(event.pid) ?? { pid: event.pid, start: -1 });
    else if (event.type === 'restart') restarts++;
    else if (event.type === 'request') settleEvents.set(event.request, (settleEvents.get(event.request) ?? 0) + 1);
  };
  const managerOptions = {
    children: [driver],
    intensity: INTENSITY,
    startIntensity: INTENSITY,
    runtimeDir: root,
    onEvent,
  };

  const violations: string[] = [];
  let manager: Manager | undefined;
  try {
    manager = await start(managerOptions, needsShim);
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }

  const sched = schedule(manager, { seed: o.seed, faults: rates, driver: driver.name, healAfterMs: 1000 });
  const load = await drive(manager, driver.name, driver.requestTimeoutMs, o);
  await sched.stop();
  const heal = await probeUntilHealed(manager, driver.name, o);
  const healed = heal.healed;
  const gaveUp = manager.snapshot().gaveUp ?? null;
  await manager.stop({ drainMs: 2000 });

  const known = [...spawned, ...(labOf(manager) === undefined ? [] : labOf(manager)!.children)];
  const orphanPids = await survivors(known, 3000);
  const leftoverFiles = await countEntries(root);
  await rm(root, { recursive: true, force: true });

  let doubleSettled = 0;
  for (const count of settleEvents.values()) if (count > 1) doubleSettled += count - 1;
  const plannedDigest = createHash('sha256').update(JSON.stringify(sched.fired)).digest('hex');

  if (load.lost > 0) violations.push(`${load.lost} request(s) never settled within deadline + ${o.graceMs} ms`);
  if (load.settled !== load.submitted) violations.push(`${load.submitted} submitted but ${load.settled} settled`);
  if (doubleSettled > 0) violations.push(`${doubleSettled} request(s) settled more than once`);
  if (load.unexpected.length > 0) violations.push(`${load.unexpected.length} rejection(s) outside the closed set of codes, first: ${load.unexpected[0]}`);
  if (orphanPids.length > 0) violations.push(`${orphanPids.length} process(es) alive after stop: ${orphanPids.join(', ')}`);
  if (leftoverFiles > 0) violations.push(`${leftoverFiles} entr(y/ies) left in the extraction root after stop`);
  if (!healed) {
    const round = heal.lastRound === undefined ? '' : `; in the last round ${heal.lastRound.failed} of ${heal.lastRound.probes} probes failed, the first with ${heal.lastRound.first}`;
    violations.push(`the driver did not answer a whole round of probes after healing${round}${gaveUp === null ? '' : ` (the tree gave up: ${gaveUp})`}`);
  }
  for (const error of sched.errors) violations.push(`injection failed: ${error}`);

  return {
    driver: driver.name,
    seed: o.seed,
    requests: o.requests,
    concurrency: o.concurrency,
    faults: rates,
    shim: needsShim,
    submitted: load.submitted,
    settled: load.settled,
    ok: load.ok,
    failedByCode: load.failedByCode,
    firstMessages: load.firstMessages,
    lost: load.lost,
    doubleSettled,
    unexpectedErrors: load.unexpected.length,
    orphans: orphanPids.length,
    orphanPids,
    leftoverFiles,
    restarts,
    spawned: spawned.length,
    injected: { ...sched.injected },
    skipped: { ...sched.skipped },
    scheduleDigest: plannedDigest,
    planned: sched.fired.length,
    latencyMs: load.latency,
    healed,
    gaveUp,
    durationMs: Math.round(performance.now() - started),
    violations,
  };
}
