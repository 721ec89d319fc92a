import { driversOf, validateSupervisor, type SupervisorChild, type SupervisorSpec } from './tree-spec.js';
import { boolean, knownKeys, plainObject, positiveInteger, nonNegativeInteger } from '../util/options.js';
import type { Clock } from './clock.js';
import type { ManagerListener } from './events.js';
import type { BackoffOptions } from './driver.js';
import type { Intensity, Strategy } from './tree-spec.js';
import type { LaunchPlan } from '../loader/launch-plan.js';

/** Everything `createManager` accepts: either a `tree`, or the root supervisor's fields inline. */
export interface ManagerOptions {
  /** A tree built with `supervisor()`. Give this or `children`, not both. */
  tree?: SupervisorSpec<any>;
  /** The root supervisor's children (drivers or supervisors). */
  children?: ReadonlyArray<SupervisorChild>;
  /** The root's strategy (default `one_for_one`). */
  strategy?: Strategy;
  /** The root's restart intensity (default 3 in 5000 ms). */
  intensity?: Intensity;
  /** Opt-in start retries for the root (default none: a failed first start fails `createManager` at once). */
  startIntensity?: Intensity;
  /** The root's backoff for children without their own. */
  backoff?: BackoffOptions;
  /** The root's name (default `root`). */
  name?: string;
  /** Subscribed before anything starts, so it sees the first spawns too (same as `manager.subscribe`). */
  onEvent?: ManagerListener;
  /** Where images are extracted (default: the runtime dir, then /dev/shm, then the temp dir). */
  runtimeDir?: string;
  /** @internal a test clock for the request deadlines. */
  clock?: Clock;
  /** @internal randomness for backoff jitter. */
  random?: () => number;
  /** @internal rewrites every handler's launch plan after its sandbox did (umdkit/testing's fault shim). */
  launchWrapper?: LaunchWrapper;
}

/** @internal which handler a {@link LaunchWrapper} is starting. */
export interface LaunchTarget {
  driver: string;
  instance: string;
  generation: number;
}

/**
 * @internal test-only: wraps a handler's (already sandboxed) launch plan, e.g. in a process that
 * relays its pipes and misbehaves on request (umdkit/testing).
 */
export type LaunchWrapper = (plan: LaunchPlan, target: LaunchTarget) => LaunchPlan;

export type { RequestOptions } from './request-options.js';

/** Options of `manager.stop()`. */
export interface StopOptions {
  /** How long queued and in-flight requests may take to finish before they are rejected with STOPPED (default 5000; 0 = at once). */
  drainMs?: number;
}

const MANAGER_KEYS = ['tree', 'children', 'strategy', 'intensity', 'startIntensity', 'backoff', 'name', 'runtimeDir', 'onEvent', 'clock', 'random', 'launchWrapper'] as const;

/** Validates `createManager` options into one root supervisor spec. */
export function validateManagerOptions(options: unknown): { tree: SupervisorSpec; runtimeDir: string | undefined; onEvent: ManagerListener | undefined; clock: Clock | undefined; random: (() => number) | undefined; launchWrapper: LaunchWrapper | undefined } {
  const o = plainObject('options', options);
  knownKeys('options', o, MANAGER_KEYS);
  let tree: SupervisorSpec;
  if (o.tree !== undefined) {
    if (o.children !== undefined) throw new TypeError('options.tree and options.children are exclusive, got both');
    const t = plainObject('options.tree', o.tree);
    if (t.kind !== 'supervisor') throw new TypeError('options.tree must be built with supervisor(), got a plain object');
    tree = validateSupervisor(t, 'options.tree', 'root');
  } else {
    const { runtimeDir: _r, clock: _c, random: _x, onEvent: _e, launchWrapper: _l, ...root } = o;
    tree = validateSupervisor(root, 'options', 'root');
  }
  driversOf(tree); // unique names
  if (o.onEvent !== undefined && typeof o.onEvent !== 'function') throw new TypeError(`options.onEvent must be a function, got ${typeof o.onEvent}`);
  if (o.runtimeDir !== undefined && typeof o.runtimeDir !== 'string') throw new TypeError(`options.runtimeDir must be a string, got ${typeof o.runtimeDir}`);
  return {
    tree,
    runtimeDir: o.runtimeDir as string | undefined,
    onEvent: o.onEvent as ManagerListener | undefined,
    clock: o.clock as Clock | undefined,
    random: o.random as (() => number) | undefined,
    launchWrapper: o.launchWrapper as LaunchWrapper | undefined,
  };
}

/** Validates per-request options. */
export function validateRequestOptions(options: unknown): { method: string | undefined; timeoutMs: number | undefined; signal: AbortSignal | undefined; idempotent: boolean } {
  if (options === undefined) return { method: undefined, timeoutMs: undefined, signal: undefined, idempotent: false };
  const o = plainObject('options', options);
  knownKeys('options', o, ['method', 'timeoutMs', 'signal', 'idempotent']);
  if (o.method !== undefined && typeof o.method !== 'string') throw new TypeError(`options.method must be a string, got ${typeof o.method}`);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new TypeError('options.signal must be an AbortSignal');
  return {
    method: o.method as string | undefined,
    timeoutMs: o.timeoutMs === undefined ? undefined : positiveInteger('options.timeoutMs', o.timeoutMs),
    signal: o.signal as AbortSignal | undefined,
    idempotent: o.idempotent === undefined ? false : boolean('options.idempotent', o.idempotent),
  };
}

/** Validates stop options. */
export function validateStopOptions(options: unknown): { drainMs: number } {
  if (options === undefined) return { drainMs: 5000 };
  const o = plainObject('options', options);
  knownKeys('options', o, ['drainMs']);
  return { drainMs: o.drainMs === undefined ? 5000 : nonNegativeInteger('options.drainMs', o.drainMs) };
}
