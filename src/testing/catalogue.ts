import type { Random } from './prng.js';

/**
 * Every fault `umdkit/testing` can inject, by name, with where it acts and how its parameters are
 * drawn from a seeded PRNG. docs/FAULTS.md is the matrix of what each one does to a manager.
 */

/**
 * The fault names. Process faults end or stall the process; pipe faults corrupt what it says;
 * disk faults damage its image or extraction root.
 *
 * @example
 * ```ts
 * FAULT_NAMES.includes('kill'); // true
 * ```
 */
export const FAULT_NAMES = [
  // process
  'kill', 'exit', 'segv', 'abort', 'hang', 'spin', 'slow', 'heap',
  // pipe
  'bitflip', 'truncate', 'oversize', 'garbage', 'unknownId', 'duplicateId', 'missingId', 'noHello', 'closeStdout',
  // disk
  'tamperImage', 'unwritableRoot',
] as const;

/**
 * One of {@link FAULT_NAMES}.
 *
 * @example
 * ```ts
 * const fault: FaultName = 'hang';
 * ```
 */
export type FaultName = (typeof FAULT_NAMES)[number];

/**
 * Where a fault acts.
 *
 * @example
 * ```ts
 * faultInfo('bitflip').level; // 'pipe'
 * ```
 */
export type FaultLevel = 'process' | 'pipe' | 'disk';

/**
 * How a fault is delivered: a signal from the parent (works on any manager), the fault shim (a
 * manager made by `faults.createManager`), or a change on disk (works on any manager).
 *
 * @example
 * ```ts
 * faultInfo('exit').mechanism; // 'shim'
 * ```
 */
export type FaultMechanism = 'signal' | 'shim' | 'disk';

/**
 * Parameters of one fault; which ones apply depends on the fault (drawn from the seed when a
 * schedule fires it, given explicitly to `faults.inject`).
 *
 * @example
 * ```ts
 * const params: FaultParams = { code: 3 };            // exit with code 3
 * const flip: FaultParams = { fraction: 0.5, bit: 7 }; // flip bit 7 of the middle byte
 * ```
 */
export interface FaultParams {
  /** `exit`: the exit code (1-255). */
  code?: number;
  /** `slow`: how long the next answer is held back, in ms. */
  ms?: number;
  /** `bitflip`, `truncate`, `tamperImage`: where in the frame or file, as a fraction of its length in [0, 1). */
  fraction?: number;
  /** `bitflip`, `tamperImage`: which bit of the chosen byte (0-7). */
  bit?: number;
  /** `bitflip`, `truncate`, `tamperImage`: an exact byte offset (wins over `fraction`). */
  byte?: number;
}

/**
 * What the catalogue knows about one fault.
 *
 * @example
 * ```ts
 * const { level, mechanism, does }: FaultInfo = faultInfo('missingId');
 * ```
 */
export interface FaultInfo {
  name: FaultName;
  level: FaultLevel;
  mechanism: FaultMechanism;
  /** One line: what is done to the handler. */
  does: string;
  /** Draws this fault's parameters from a seeded PRNG (always the same number of draws). */
  draw(random: Random): FaultParams;
}

const none = (): FaultParams => ({});

const INFO: Record<FaultName, Omit<FaultInfo, 'name'>> = {
  kill: { level: 'process', mechanism: 'signal', does: 'SIGKILL to the handler', draw: none },
  exit: { level: 'process', mechanism: 'shim', does: 'the process exits with a code', draw: (r) => ({ code: 1 + Math.floor(r() * 120) }) },
  segv: { level: 'process', mechanism: 'signal', does: 'SIGSEGV to the handler', draw: none },
  abort: { level: 'process', mechanism: 'signal', does: 'SIGABRT to the handler', draw: none },
  hang: { level: 'process', mechanism: 'signal', does: 'SIGSTOP to the handler\'s process group', draw: none },
  spin: { level: 'process', mechanism: 'shim', does: 'a busy loop: the process runs but never reads or writes again', draw: none },
  slow: { level: 'process', mechanism: 'shim', does: 'the next answer is held back for `ms`', draw: (r) => ({ ms: 50 + Math.floor(r() * 2950) }) },
  heap: { level: 'process', mechanism: 'shim', does: 'allocates until the V8 heap is exhausted', draw: none },
  bitflip: { level: 'pipe', mechanism: 'shim', does: 'one bit of the next answer frame is flipped', draw: (r) => ({ fraction: r(), bit: Math.floor(r() * 8) }) },
  truncate: { level: 'pipe', mechanism: 'shim', does: 'the next answer frame is cut short, then the process dies', draw: (r) => ({ fraction: r() }) },
  oversize: { level: 'pipe', mechanism: 'shim', does: 'a length prefix past the frame limit (0x7fffffff)', draw: none },
  garbage: { level: 'pipe', mechanism: 'shim', does: 'a stray text line on stdout', draw: none },
  unknownId: { level: 'pipe', mechanism: 'shim', does: 'an answer for an id that was never sent', draw: none },
  duplicateId: { level: 'pipe', mechanism: 'shim', does: 'the next answer is sent twice', draw: none },
  missingId: { level: 'pipe', mechanism: 'shim', does: 'the next answer is never sent', draw: none },
  noHello: { level: 'pipe', mechanism: 'shim', does: 'the next start of the driver never says hello', draw: none },
  closeStdout: { level: 'pipe', mechanism: 'shim', does: 'stdout is closed; the process lives on', draw: none },
  tamperImage: { level: 'disk', mechanism: 'disk', does: 'one bit of the extracted image file is flipped', draw: (r) => ({ fraction: r(), bit: Math.floor(r() * 8) }) },
  unwritableRoot: { level: 'disk', mechanism: 'disk', does: 'the extraction root is made unwritable (chmod 0500, and chattr +i as root)', draw: none },
};

/**
 * The catalogue entry of `name`.
 *
 * @example
 * ```ts
 * faultInfo('hang').mechanism; // 'signal'
 * ```
 */
export function faultInfo(name: FaultName): FaultInfo {
  return { name, ...INFO[name] };
}

/**
 * Named groups for specs and the CLI (`--faults process:0.001`).
 *
 * @example
 * ```ts
 * FAULT_GROUPS.process; // ['kill', 'exit', 'segv', 'abort', 'hang', 'spin', 'slow', 'heap']
 * ```
 */
export const FAULT_GROUPS: Readonly<Record<'process' | 'pipe' | 'disk' | 'signal' | 'all', readonly FaultName[]>> = Object.freeze({
  process: FAULT_NAMES.filter((n) => INFO[n].level === 'process'),
  pipe: FAULT_NAMES.filter((n) => INFO[n].level === 'pipe'),
  disk: FAULT_NAMES.filter((n) => INFO[n].level === 'disk'),
  signal: FAULT_NAMES.filter((n) => INFO[n].mechanism === 'signal'),
  all: [...FAULT_NAMES],
});

/**
 * Checks a fault name at the public boundary.
 *
 * @example
 * ```ts
 * faultName('options.fault', 'kill'); // 'kill'
 * faultName('options.fault', 'kil');  // throws RangeError naming the known faults
 * ```
 */
export function faultName(path: string, value: unknown): FaultName {
  if (typeof value !== 'string' || !(FAULT_NAMES as readonly string[]).includes(value)) {
    throw new RangeError(`${path} must be one of ${FAULT_NAMES.join(', ')}, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`);
  }
  return value as FaultName;
}
