/// <reference types="node" preserve="true" />
// The public declarations name Node types (streams, signals, key objects): a consumer compiling with
// `types: []` still needs them. @types/node is an optional peer dependency (TypeScript users only).
/**
 * `umdkit/testing`: fault injection and chaos runs against real managers and real processes.
 * Nothing here is used by a manager unless a test asks for it: the fault shim only runs behind a
 * manager made by `faults.createManager`, and signals and disk faults act only when injected.
 * docs/FAULTS.md lists every fault, how it is detected, what the caller sees and what the
 * supervisor does.
 *
 * @example
 * ```ts
 * import { faults, runChaos } from 'umdkit/testing';
 *
 * const manager = await faults.createManager({ children: [defineDriver(parser)] });
 * const schedule = faults.schedule(manager, { seed: 42, faults: { kill: 0.01, hang: 0.002 } });
 * // ... drive requests ...
 * await schedule.stop();
 * await manager.stop();
 *
 * const report = await runChaos({ driver: './parser.driver.mjs', requests: 2000, concurrency: 8, faults: 'process:0.002', seed: 1 });
 * if (report.violations.length > 0) process.exitCode = 1;
 * ```
 */
import type { Manager } from '../manager/manager.js';
import { FAULT_GROUPS, FAULT_NAMES, faultInfo } from './catalogue.js';
import { createFaultyManager } from './create.js';
import { makeUnwritable, tamperFile } from './disk.js';
import { heal, inject } from './inject.js';
import { labOf } from './lab.js';
import { plan, parseFaultList } from './plan.js';
import type { ProcessIdentity } from './processes.js';
import { mulberry32 } from './prng.js';
import { schedule } from './schedule.js';

/**
 * Every process a manager made by `faults.createManager` started so far: the shims it spawned and
 * the real handlers behind them (empty for other managers). Check them with `survivors` after
 * `stop()`.
 *
 * @example
 * ```ts
 * await manager.stop();
 * expect(await survivors(faults.processes(manager))).toEqual([]);
 * ```
 */
function processes(manager: Manager): ProcessIdentity[] {
  const lab = labOf(manager);
  return lab === undefined ? [] : [...lab.spawned, ...lab.children];
}

/**
 * The fault-injection toolkit.
 *
 * @example
 * ```ts
 * const manager = await faults.createManager({ children: [driver] });
 * await faults.inject(manager, 'kill', { driver: 'parser' });
 * faults.plan({ faults: { kill: 0.01 }, requests: 1000 }, 42).faults.length; // same every run
 * ```
 */
export const faults = Object.freeze({
  /** Every fault name, in catalogue order. */
  names: FAULT_NAMES,
  /** Named groups of faults: process, pipe, disk, signal, all. */
  groups: FAULT_GROUPS,
  /** What the catalogue knows about one fault (level, mechanism, what it does). */
  info: faultInfo,
  /** A manager whose handlers run behind the fault shim (every fault available). */
  createManager: createFaultyManager,
  /** One fault, now. */
  inject,
  /** Faults fired by the manager's own requests, per a seeded plan. */
  schedule,
  /** The deterministic schedule of a spec for `spec.requests` requests. */
  plan,
  /** Undoes the disk faults injected into a manager. */
  heal,
  /** Every process a fault-injecting manager started (shims and handlers). */
  processes,
  /** Parses `kill:0.01,hang:0.002` (the CLI's `--faults`). */
  parse: parseFaultList,
  /** The seeded PRNG schedules are drawn from. */
  random: mulberry32,
  /** Flips one bit of a file; returns the undo. */
  tamperFile,
  /** Makes a directory unwritable (chattr +i as root); returns the undo. */
  makeUnwritable,
});

export { FAULT_GROUPS, FAULT_NAMES, type FaultInfo, type FaultLevel, type FaultMechanism, type FaultName, type FaultParams } from './catalogue.js';
export type { FaultGroup, FaultPlan, FaultSpec, PlannedFault } from './plan.js';
export type { FaultSchedule, ScheduleOptions } from './schedule.js';
export type { Injection, InjectOptions } from './inject.js';
export type { Heal } from './disk.js';
export { survivors, identify, stillRunning, type ProcessIdentity } from './processes.js';
export { mulberry32, type Random } from './prng.js';
export { runChaos, type ChaosOptions, type ChaosReport } from './chaos.js';
