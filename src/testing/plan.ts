import { FAULT_GROUPS, FAULT_NAMES, faultInfo, faultName, type FaultName, type FaultParams } from './catalogue.js';
import { mulberry32, seedOf, type Random } from './prng.js';
import { knownKeys, numberInRange, plainObject, positiveInteger } from '../util/options.js';

/**
 * Deterministic fault schedules: which fault fires at which request, with which parameters. A
 * schedule depends only on its spec and seed, never on timing, so a failing chaos run is replayed
 * by rerunning it with the same seed.
 */

/**
 * A group name usable in place of fault names in rates (`process`, `pipe`, `disk`, `signal`, `all`).
 *
 * @example
 * ```ts
 * const rates: FaultSpec['faults'] = { process: 0.001, bitflip: 0.01 };
 * ```
 */
export type FaultGroup = keyof typeof FAULT_GROUPS;

/**
 * What to inject and when.
 *
 * @example
 * ```ts
 * const spec: FaultSpec = {
 *   faults: { kill: 0.01, hang: 0.002 },          // probability per request
 *   at: [{ request: 100, fault: 'exit', params: { code: 3 } }], // exactly at the 100th request
 *   params: { slow: { ms: 200 } },                 // fixed instead of drawn
 * };
 * ```
 */
export interface FaultSpec {
  /** Probability per request (0..1) of each fault, by name or group; a name wins over its group. */
  faults?: Partial<Record<FaultName | FaultGroup, number>>;
  /** Faults at exact request numbers (1 = the first request). */
  at?: ReadonlyArray<{ request: number; fault: FaultName; params?: FaultParams }>;
  /** Parameters that replace the drawn ones, per fault. */
  params?: Partial<Record<FaultName, FaultParams>>;
  /** Requests to plan: `plan()` needs it; a schedule fires for at most this many requests when given. */
  requests?: number;
}

/**
 * One planned injection.
 *
 * @example
 * ```ts
 * const entry: PlannedFault = { request: 17, fault: 'kill', params: {}, target: 0.42 };
 * ```
 */
export interface PlannedFault {
  /** The request number (1-based) whose submission fires it. */
  request: number;
  fault: FaultName;
  params: FaultParams;
  /** Which live handler gets it, as a fraction in [0, 1) of the live handlers at that moment. */
  target: number;
}

/**
 * A whole schedule for a known number of requests.
 *
 * @example
 * ```ts
 * const { faults } = plan({ faults: { kill: 0.01 }, requests: 1000 }, 7);
 * console.log(faults.map((f) => `${f.request}:${f.fault}`).join(' '));
 * ```
 */
export interface FaultPlan {
  seed: number;
  requests: number;
  faults: PlannedFault[];
}

/**
 * Validated rates: fault → probability, in catalogue order (the order of draws).
 *
 * @example
 * ```ts
 * const rates: FaultRates = expandRates('spec.faults', { kill: 0.01 }); // [['kill', 0.01]]
 * ```
 */
export type FaultRates = ReadonlyArray<readonly [FaultName, number]>;

/**
 * Draws a schedule request by request. `schedule()` uses it lazily, `plan()` eagerly: both give
 * the same entries for the same spec and seed.
 *
 * @example
 * ```ts
 * const planner = new Planner({ faults: { kill: 0.5 } }, 1);
 * planner.next(); // faults for request 1
 * planner.next(); // faults for request 2
 * ```
 */
export class Planner {
  private readonly random: Random;
  private readonly rates: FaultRates;
  private readonly at = new Map<number, Array<{ fault: FaultName; params: FaultParams }>>();
  private readonly fixed: Partial<Record<FaultName, FaultParams>>;
  private count = 0;
  private readonly limit: number;

  constructor(spec: FaultSpec, seed: number) {
    const s = validateSpec(spec);
    this.limit = s.requests;
    this.random = mulberry32(seedOf('seed', seed));
    this.rates = s.rates;
    this.fixed = s.params;
    for (const entry of s.at) {
      const list = this.at.get(entry.request) ?? [];
      list.push({ fault: entry.fault, params: entry.params });
      this.at.set(entry.request, list);
    }
  }

  /** Requests planned so far. */
  get requests(): number {
    return this.count;
  }

  /** The faults that fire with the next request (usually none). */
  next(): PlannedFault[] {
    const request = ++this.count;
    const out: PlannedFault[] = [];
    if (request > this.limit) return out;
    for (const { fault, params } of this.at.get(request) ?? []) {
      out.push({ request, fault, params: { ...this.fixed[fault], ...params }, target: this.random() });
    }
    for (const [fault, rate] of this.rates) {
      if (this.random() >= rate) continue;
      const params = { ...faultInfo(fault).draw(this.random), ...this.fixed[fault] };
      out.push({ request, fault, params, target: this.random() });
    }
    return out;
  }
}

/**
 * The deterministic schedule of `spec` for `spec.requests` requests: same spec and seed, same plan.
 *
 * @example
 * ```ts
 * const a = plan({ faults: { kill: 0.01, hang: 0.002 }, requests: 20_000 }, 42);
 * const b = plan({ faults: { kill: 0.01, hang: 0.002 }, requests: 20_000 }, 42);
 * // a and b are deep-equal; another seed moves the faults
 * ```
 */
export function plan(spec: FaultSpec, seed: number): FaultPlan {
  const requests = positiveInteger('spec.requests', plainObject('spec', spec).requests);
  const planner = new Planner(spec, seed);
  const faults: PlannedFault[] = [];
  for (let i = 0; i < requests; i++) faults.push(...planner.next());
  return { seed, requests, faults };
}

/**
 * Parses the CLI's fault list, `name:rate,name:rate` (groups allowed: `process:0.001`).
 *
 * @example
 * ```ts
 * parseFaultList('kill:0.01,hang:0.002'); // { kill: 0.01, hang: 0.002 }
 * ```
 */
export function parseFaultList(text: string): Partial<Record<FaultName | FaultGroup, number>> {
  const rates: Partial<Record<FaultName | FaultGroup, number>> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p.length > 0)) {
    const match = /^([A-Za-z]+):([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)$/.exec(part);
    if (match === null) throw new RangeError(`--faults must be a list of name:rate (e.g. kill:0.01,hang:0.002), got ${JSON.stringify(part)}`);
    const name = match[1]!;
    if (!(name in FAULT_GROUPS) && !(FAULT_NAMES as readonly string[]).includes(name)) {
      throw new RangeError(`--faults: ${JSON.stringify(name)} is not a fault or group (faults: ${FAULT_NAMES.join(', ')}; groups: ${Object.keys(FAULT_GROUPS).join(', ')})`);
    }
    rates[name as FaultName] = numberInRange(`--faults rate of ${name}`, Number(match[2]), 0, 1);
  }
  return rates;
}

/**
 * Expands groups into names (a name given on its own wins over its group's rate); checks the rates.
 *
 * @example
 * ```ts
 * expandRates('spec.faults', { signal: 0.01, kill: 0.05 }); // [['kill', 0.05], ['segv', 0.01], ['abort', 0.01], ['hang', 0.01]]
 * ```
 */
export function expandRates(path: string, value: unknown): FaultRates {
  const o = plainObject(path, value);
  const byName = new Map<FaultName, number>();
  const groups = Object.keys(o).filter((k) => k in FAULT_GROUPS);
  for (const group of groups) {
    const rate = numberInRange(`${path}.${group}`, o[group], 0, 1);
    for (const name of FAULT_GROUPS[group as FaultGroup]) byName.set(name, rate);
  }
  for (const key of Object.keys(o)) {
    if (key in FAULT_GROUPS) continue;
    byName.set(faultName(`${path} key`, key), numberInRange(`${path}.${key}`, o[key], 0, 1));
  }
  return FAULT_NAMES.filter((n) => (byName.get(n) ?? 0) > 0).map((n) => [n, byName.get(n)!] as const);
}

function validateSpec(spec: unknown): { rates: FaultRates; at: Array<{ request: number; fault: FaultName; params: FaultParams }>; params: Partial<Record<FaultName, FaultParams>>; requests: number } {
  const s = plainObject('spec', spec);
  knownKeys('spec', s, ['faults', 'at', 'params', 'requests']);
  const requests = s.requests === undefined ? Infinity : positiveInteger('spec.requests', s.requests);
  const rates = s.faults === undefined ? [] : expandRates('spec.faults', s.faults);
  const at: Array<{ request: number; fault: FaultName; params: FaultParams }> = [];
  if (s.at !== undefined) {
    if (!Array.isArray(s.at)) throw new TypeError(`spec.at must be an array, got ${typeof s.at}`);
    s.at.forEach((entry: unknown, i: number) => {
      const e = plainObject(`spec.at[${i}]`, entry);
      knownKeys(`spec.at[${i}]`, e, ['request', 'fault', 'params']);
      at.push({
        request: positiveInteger(`spec.at[${i}].request`, e.request),
        fault: faultName(`spec.at[${i}].fault`, e.fault),
        params: e.params === undefined ? {} : { ...(plainObject(`spec.at[${i}].params`, e.params) as FaultParams) },
      });
    });
  }
  const params: Partial<Record<FaultName, FaultParams>> = {};
  if (s.params !== undefined) {
    for (const [key, value] of Object.entries(plainObject('spec.params', s.params))) {
      params[faultName('spec.params key', key)] = { ...(plainObject(`spec.params.${key}`, value) as FaultParams) };
    }
  }
  return { rates, at, params, requests };
}
