import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DriverOptions, Validator } from '../manager/driver.js';
import { knownKeys, numberInRange, plainObject, positiveInteger } from '../util/options.js';
import type { FaultName } from './catalogue.js';
import { expandRates, parseFaultList, type FaultGroup, type FaultRates } from './plan.js';
import { seedOf } from './prng.js';

/** The options of a chaos run, checked at the boundary, and the driver module it loads. */

/**
 * Options of {@link runChaos}.
 *
 * @example
 * ```ts
 * const options: ChaosOptions = { driver: './sample.driver.mjs', requests: 2000, concurrency: 8, faults: 'process:0.002', seed: 1 };
 * ```
 */
export interface ChaosOptions {
  /** A driver module written by `umdkit pack` (its path), or the driver options themselves. */
  driver: string | DriverOptions;
  /** Requests to submit. */
  requests: number;
  /** Requests outstanding at once. */
  concurrency: number;
  /** Rates per request, as `kill:0.01,hang:0.002` or an object (groups allowed: `process:0.001`). */
  faults: string | Partial<Record<FaultName | FaultGroup, number>>;
  /** Seeds the fault schedule and the choice of idempotent requests: same seed, same schedule. */
  seed: number;
  /** Payload of request `i` (0-based; default `i % 1024`, which the sample drivers read as an offset). */
  payload?: (i: number) => unknown;
  /** Method of every request (default none). */
  method?: string;
  /** Checks answers (default none): with it, a bit flipped in a payload is caught as INVALID_RESPONSE. */
  validate?: Validator;
  /** Driver settings over the chaos defaults (2 instances, 4 in flight each, 3 s deadline, 250 ms heartbeat). */
  driverOptions?: Partial<DriverOptions>;
  /** Share of requests marked idempotent (default 0.5). */
  idempotentShare?: number;
  /** Requests per round of the after-healing check (default 20; up to 5 rounds). */
  probes?: number;
  /** Time past its deadline after which an unsettled request counts as lost (default 5000). */
  graceMs?: number;
  /** Called every `progressEvery` settled requests (default 1000). */
  onProgress?: (settled: number, total: number) => void;
  progressEvery?: number;
}

/**
 * {@link ChaosOptions} checked, with every default filled in.
 *
 * @example
 * ```ts
 * const o: ValidChaos = validateChaosOptions({ driver: 'x.driver.mjs', requests: 10, concurrency: 2, faults: 'kill:0.1', seed: 1 });
 * ```
 */
export interface ValidChaos {
  driver: string | DriverOptions;
  requests: number;
  concurrency: number;
  rates: FaultRates;
  seed: number;
  payload: (i: number) => unknown;
  method: string | undefined;
  validate: Validator | undefined;
  driverOptions: Partial<DriverOptions>;
  idempotentShare: number;
  probes: number;
  graceMs: number;
  onProgress: ((settled: number, total: number) => void) | undefined;
  progressEvery: number;
}

/**
 * Checks chaos options, naming the option and the value at fault (TypeError / RangeError).
 *
 * @example
 * ```ts
 * validateChaosOptions({ driver: 'x.mjs', requests: 0, concurrency: 1, faults: '', seed: 1 }); // throws RangeError: options.requests must be a positive integer, got 0
 * ```
 */
export function validateChaosOptions(options: unknown): ValidChaos {
  const o = plainObject('options', options);
  knownKeys('options', o, ['driver', 'requests', 'concurrency', 'faults', 'seed', 'payload', 'method', 'validate', 'driverOptions', 'idempotentShare', 'probes', 'graceMs', 'onProgress', 'progressEvery']);
  if (typeof o.driver !== 'string' && (typeof o.driver !== 'object' || o.driver === null)) {
    throw new TypeError(`options.driver must be a driver module path or driver options, got ${typeof o.driver}`);
  }
  const rates = typeof o.faults === 'string' ? expandRates('options.faults', parseFaultList(o.faults)) : expandRates('options.faults', o.faults);
  if (o.payload !== undefined && typeof o.payload !== 'function') throw new TypeError(`options.payload must be a function, got ${typeof o.payload}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new TypeError(`options.onProgress must be a function, got ${typeof o.onProgress}`);
  if (o.method !== undefined && typeof o.method !== 'string') throw new TypeError(`options.method must be a string, got ${typeof o.method}`);
  return {
    driver: o.driver as string | DriverOptions,
    requests: positiveInteger('options.requests', o.requests),
    concurrency: positiveInteger('options.concurrency', o.concurrency),
    rates,
    seed: seedOf('options.seed', o.seed),
    payload: (o.payload as ((i: number) => unknown) | undefined) ?? ((i) => i % 1024),
    method: o.method as string | undefined,
    validate: o.validate as Validator | undefined,
    driverOptions: o.driverOptions === undefined ? {} : (plainObject('options.driverOptions', o.driverOptions) as Partial<DriverOptions>),
    idempotentShare: o.idempotentShare === undefined ? 0.5 : numberInRange('options.idempotentShare', o.idempotentShare, 0, 1),
    probes: o.probes === undefined ? 20 : positiveInteger('options.probes', o.probes),
    graceMs: o.graceMs === undefined ? 5000 : positiveInteger('options.graceMs', o.graceMs),
    onProgress: o.onProgress as ((settled: number, total: number) => void) | undefined,
    progressEvery: o.progressEvery === undefined ? 1000 : positiveInteger('options.progressEvery', o.progressEvery),
  };
}

/**
 * The driver of a chaos run: given as options, or imported from a module written by `umdkit pack`.
 *
 * @example
 * ```ts
 * const driver = await loadDriverModule('./sample.driver.mjs'); // { name, image }
 * ```
 */
export async function loadDriverModule(driver: string | DriverOptions): Promise<DriverOptions> {
  if (typeof driver !== 'string') return driver;
  const url = pathToFileURL(resolve(driver)).href;
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (err) {
    throw new Error(`cannot import the driver module ${driver}: ${(err as Error).message}`, { cause: err });
  }
  const value = module.default as Partial<DriverOptions> | undefined;
  if (typeof value !== 'object' || value === null || typeof value.name !== 'string' || typeof value.image !== 'object') {
    throw new TypeError(`options.driver must be a module written by \`umdkit pack\` (default export { name, image }), got ${driver}`);
  }
  return value as DriverOptions;
}

