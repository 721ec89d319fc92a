import { defineDriver, validateBackoff, type BackoffOptions, type Driver, type DriverOptions } from './driver.js';
import { describeValue, knownKeys, oneOf, plainObject, positiveInteger, nonNegativeInteger, matching } from '../util/options.js';
import type { DriverEntry, EntriesOf } from './typed.js';

/** What a supervisor's children may be: drivers, plain driver options, or supervisors. */
export type SupervisorChild = Driver | DriverOptions | SupervisorSpec<any>;

/** How a supervisor restarts its children after one of them crashes. */
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one' | 'pool';

/** At most `maxRestarts` restarts within `periodMs`; past it the supervisor gives up and escalates. */
export interface Intensity {
  maxRestarts: number;
  periodMs: number;
}

/** Everything `supervisor()` accepts. */
export interface SupervisorOptions {
  /** Name shown in snapshots, events and errors (default `root` for the top, else `supervisor`). */
  name?: string;
  /** Restart strategy (default `one_for_one`). */
  strategy?: Strategy;
  /** Restart intensity (default 3 restarts in 5000 ms). */
  intensity?: Intensity;
  /**
   * Opt-in start retries. Without it (OTP): a failed restart counts in `intensity` like any
   * restart, and a child that fails its first start fails the start at once (`createManager`
   * rejects with the reason). With it: failed starts, the first included, are retried with
   * backoff and counted apart, at most `maxRestarts` within `periodMs`.
   */
  startIntensity?: Intensity;
  /** Backoff for children that do not set their own. */
  backoff?: BackoffOptions;
  /** Restart type of this supervisor as a child of another (default `permanent`). */
  restart?: 'permanent' | 'transient' | 'temporary';
  /** Children, started in order and stopped in reverse order: drivers or supervisors. */
  children: ReadonlyArray<SupervisorChild>;
}

/**
 * A validated supervisor, ready to be given to `createManager({ tree })` or nested in another.
 * `Drivers` is a type only: every driver below it, by name and methods (see `DriverEntry`).
 */
export interface SupervisorSpec<Drivers = DriverEntry> {
  readonly kind: 'supervisor';
  readonly name: string;
  readonly strategy: Strategy;
  readonly intensity: Intensity;
  /** Undefined unless start retries were asked for. */
  readonly startIntensity: Intensity | undefined;
  readonly backoff: BackoffOptions;
  readonly restart: 'permanent' | 'transient' | 'temporary';
  readonly children: ReadonlyArray<Driver | SupervisorSpec>;
  /** Type only, never present at run time: the drivers below, for `createManager({ tree })` to type `request`. */
  readonly '~drivers'?: Drivers;
}

const STRATEGIES = ['one_for_one', 'one_for_all', 'rest_for_one', 'pool'] as const;
const KNOWN = ['kind', 'name', 'strategy', 'intensity', 'startIntensity', 'backoff', 'restart', 'children'] as const;

/**
 * Declares a supervisor: a strategy over ordered children, with restart intensity and backoff.
 * Supervisors nest; names must be unique among drivers of one tree.
 *
 * @example
 * ```ts
 * const tree = supervisor({
 *   name: 'parsers',
 *   strategy: 'rest_for_one',
 *   intensity: { maxRestarts: 5, periodMs: 10_000 },
 *   children: [tokenizer, parser],
 * });
 * const manager = await createManager({ tree });
 * ```
 */
export function supervisor<Children extends ReadonlyArray<SupervisorChild>>(options: SupervisorOptions & { children: Children }): SupervisorSpec<EntriesOf<Children[number]>> {
  return validateSupervisor(options, 'options', 'supervisor') as SupervisorSpec<EntriesOf<Children[number]>>;
}

/** Validates one supervisor at `path` (used for nested specs so errors name the full path). */
export function validateSupervisor(options: unknown, path: string, defaultName: string): SupervisorSpec {
  const o = plainObject(path, options);
  knownKeys(path, o, KNOWN);
  const name = o.name === undefined ? defaultName : matching(`${path}.name`, o.name, /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a name of 1-64 letters, digits, ".", "_" or "-"');
  const strategy = o.strategy === undefined ? 'one_for_one' : oneOf(`${path}.strategy`, o.strategy, STRATEGIES);
  const intensity = o.intensity === undefined ? { maxRestarts: 3, periodMs: 5000 } : validateIntensity(`${path}.intensity`, o.intensity);
  const startIntensity = o.startIntensity === undefined ? undefined : validateIntensity(`${path}.startIntensity`, o.startIntensity);
  const restart = o.restart === undefined ? 'permanent' : oneOf(`${path}.restart`, o.restart, ['permanent', 'transient', 'temporary'] as const);
  const backoff = o.backoff === undefined ? {} : validateBackoff(`${path}.backoff`, o.backoff);
  if (!Array.isArray(o.children)) throw new TypeError(`${path}.children must be an array, got ${typeof o.children}`);
  if (o.children.length === 0) throw new RangeError(`${path}.children must not be empty, got 0 children`);
  const children = o.children.map((child: unknown, i: number) => {
    const childPath = `${path}.children[${i}]`;
    const c = plainObject(childPath, child);
    if (c.kind === 'supervisor') return validateSupervisor(c, childPath, `${name}.${i}`);
    if (c.kind !== undefined && c.kind !== 'driver') throw new TypeError(`${childPath}.kind must be "supervisor", "driver" or absent, got ${describeValue(c.kind)}`);
    try {
      // Every child is validated, whatever its `kind` says: `{ kind: 'driver', ... }` written by hand
      // must not slip past with no defaults (a driver already defined passes through unchanged).
      return defineDriver(c as unknown as DriverOptions);
    } catch (err) {
      // Re-point the message at the child's path: `options.children[1].maxQueue must be ...`.
      if (err instanceof TypeError || err instanceof RangeError) {
        const Ctor = err instanceof TypeError ? TypeError : RangeError;
        throw new Ctor(err.message.replace(/^options/, childPath));
      }
      throw err;
    }
  });
  if (strategy === 'pool') {
    if (children.length !== 1 || children[0]!.kind !== 'driver') {
      throw new RangeError(`${path}.children must hold exactly one driver for strategy "pool", got ${children.length} child(ren)`);
    }
  }
  return Object.freeze({ kind: 'supervisor' as const, name, strategy, intensity, startIntensity, backoff, restart, children: Object.freeze(children) });
}

function validateIntensity(path: string, value: unknown): Intensity {
  const o = plainObject(path, value);
  knownKeys(path, o, ['maxRestarts', 'periodMs']);
  return {
    maxRestarts: nonNegativeInteger(`${path}.maxRestarts`, o.maxRestarts),
    periodMs: positiveInteger(`${path}.periodMs`, o.periodMs),
  };
}

/** Every driver in a tree, in start order, and a check that their names are unique. */
export function driversOf(tree: SupervisorSpec): Driver[] {
  const out: Driver[] = [];
  const walk = (node: SupervisorSpec) => {
    for (const child of node.children) {
      if (child.kind === 'supervisor') walk(child);
      else {
        if (out.some((d) => d.name === child.name)) {
          throw new RangeError(`driver names must be unique in a tree, got "${child.name}" twice`);
        }
        out.push(child);
      }
    }
  };
  walk(tree);
  return out;
}
