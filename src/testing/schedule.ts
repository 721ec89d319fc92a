import type { Manager } from '../manager/manager.js';
import { knownKeys, nonNegativeInteger, plainObject } from '../util/options.js';
import type { FaultName } from './catalogue.js';
import type { Heal } from './disk.js';
import { driverNames, inject, type Injection } from './inject.js';
import { Planner, type FaultSpec, type PlannedFault } from './plan.js';
import { seedOf } from './prng.js';

/**
 * `faults.schedule`: faults fired by the requests themselves. Every `manager.request(...)` call
 * counts as one request; when the plan says request N gets a fault, it is injected right after
 * request N was submitted (so that it is queued or in flight when the fault lands).
 */

/**
 * A spec plus its seed and where to aim.
 *
 * @example
 * ```ts
 * const options: ScheduleOptions = { seed: 7, faults: { kill: 0.01, hang: 0.002 }, healAfterMs: 500 };
 * ```
 */
export interface ScheduleOptions extends FaultSpec {
  seed: number;
  /** The driver to aim at (default: each fault picks one of the manager's drivers with its `target`). */
  driver?: string;
  /** Disk faults are undone this long after they were injected (default 1000). */
  healAfterMs?: number;
}

/**
 * A running schedule.
 *
 * @example
 * ```ts
 * const schedule = faults.schedule(manager, { seed: 1, faults: { kill: 0.01 } });
 * await Promise.allSettled(requests);
 * await schedule.stop();
 * console.log(schedule.injected, schedule.skipped);
 * ```
 */
export interface FaultSchedule {
  readonly seed: number;
  /** Planned faults reached so far, in order (the same for the same spec and seed). */
  readonly fired: readonly PlannedFault[];
  /** Faults delivered, by name. */
  readonly injected: Readonly<Partial<Record<FaultName, number>>>;
  /** Faults that found no live handler (or a handler that could not confirm), by name. */
  readonly skipped: Readonly<Partial<Record<FaultName, number>>>;
  /** Faults whose injection threw (a bug or a host that cannot do it), with the reason. */
  readonly errors: readonly string[];
  /** Requests counted so far. */
  readonly requests: number;
  /** Stops firing, waits for injections under way, and undoes the disk faults. Idempotent. */
  stop(): Promise<void>;
}

const active = new WeakSet<Manager>();

/**
 * Starts firing faults at `manager` as its requests are submitted, per `options` (see
 * {@link FaultSpec}); stop it with `stop()`. One schedule per manager at a time.
 *
 * @example
 * ```ts
 * const manager = await faults.createManager({ children: [driver] });
 * const schedule = faults.schedule(manager, { seed: 42, faults: { kill: 0.01, hang: 0.002 } });
 * for (let i = 0; i < 1000; i++) await manager.request('parser', i).catch(() => {});
 * await schedule.stop();
 * ```
 */
export function schedule(manager: Manager, options: ScheduleOptions): FaultSchedule {
  const o = plainObject('options', options);
  knownKeys('options', o, ['seed', 'faults', 'at', 'params', 'requests', 'driver', 'healAfterMs']);
  const seed = seedOf('options.seed', o.seed);
  const healAfterMs = o.healAfterMs === undefined ? 1000 : nonNegativeInteger('options.healAfterMs', o.healAfterMs);
  const { seed: _s, driver: _d, healAfterMs: _h, ...spec } = o;
  const planner = new Planner(spec as FaultSpec, seed);
  const drivers = o.driver === undefined ? driverNames(manager) : [o.driver as string];
  if (o.driver !== undefined && !driverNames(manager).includes(o.driver as string)) {
    throw new RangeError(`options.driver must name a driver of this manager, got ${JSON.stringify(o.driver)}`);
  }
  if (active.has(manager)) throw new Error('this manager already has a running fault schedule: stop it first');
  active.add(manager);

  const fired: PlannedFault[] = [];
  const injected: Partial<Record<FaultName, number>> = {};
  const skipped: Partial<Record<FaultName, number>> = {};
  const errors: string[] = [];
  const underWay = new Set<Promise<void>>();
  const heals = new Set<Heal>();
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;

  const count = (tally: Partial<Record<FaultName, number>>, name: FaultName) => {
    tally[name] = (tally[name] ?? 0) + 1;
  };

  const fire = (entry: PlannedFault) => {
    // The same fraction that picks the handler picks the driver first, when there are several.
    const driverIndex = Math.min(drivers.length - 1, Math.floor(entry.target * drivers.length));
    const within = entry.target * drivers.length - driverIndex;
    const job = inject(manager, entry.fault, { ...entry.params, driver: drivers[driverIndex]!, target: within, waitMs: 0 })
      .then((injection: Injection) => {
        if (!injection.delivered) return count(skipped, entry.fault);
        count(injected, entry.fault);
        const heal = injection.heal;
        if (heal === undefined) return;
        heals.add(heal);
        const timer = setTimeout(() => {
          timers.delete(timer);
          heals.delete(heal);
          const healing = heal().catch((err: Error) => {
            errors.push(`heal of ${entry.fault}: ${err.message}`);
          });
          underWay.add(healing);
          void healing.finally(() => underWay.delete(healing));
        }, healAfterMs);
        timers.add(timer);
      })
      .catch((err: Error) => {
        errors.push(`${entry.fault} at request ${entry.request}: ${err.message}`);
      });
    underWay.add(job);
    void job.finally(() => underWay.delete(job));
  };

  const original = manager.request;
  const counted = function (this: Manager, ...args: Parameters<Manager['request']>) {
    const due = stopped ? [] : planner.next();
    const result = original.apply(manager, args);
    for (const entry of due) {
      fired.push(entry);
      fire(entry);
    }
    return result;
  } as Manager['request'];
  // An own property shadows the prototype's method for this one manager; deleting it restores it.
  Object.defineProperty(manager, 'request', { value: counted, configurable: true, writable: true });

  let stopping: Promise<void> | undefined;
  return {
    seed,
    fired,
    injected,
    skipped,
    errors,
    get requests() {
      return planner.requests;
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        if ((manager as { request: unknown }).request === counted) delete (manager as { request?: unknown }).request;
        active.delete(manager);
        while (underWay.size > 0) await Promise.allSettled([...underWay]);
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        for (const heal of [...heals]) {
          heals.delete(heal);
          await heal().catch((err: Error) => errors.push(`heal: ${err.message}`));
        }
      })();
      return stopping;
    },
  };
}
