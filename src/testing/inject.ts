import { access, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Manager } from '../manager/manager.js';
import type { SnapshotNode } from '../manager/snapshot.js';
import { knownKeys, nonNegativeInteger, numberInRange, plainObject, positiveInteger } from '../util/options.js';
import { faultInfo, faultName, type FaultName, type FaultParams } from './catalogue.js';
import { makeUnwritable, tamperFile, type Heal } from './disk.js';
import { labOf } from './lab.js';

/**
 * `faults.inject`: one fault, now, into a running manager. Signals go straight to the handler
 * (any manager); shim faults go through the control socket of a manager made by
 * `faults.createManager`; disk faults change the extracted files (any manager).
 */

/**
 * Where and how to inject, plus the fault's own parameters.
 *
 * @example
 * ```ts
 * await faults.inject(manager, 'exit', { driver: 'parser', code: 3 });
 * await faults.inject(manager, 'slow', { driver: 'parser', ms: 2000, target: 0.5 });
 * ```
 */
export interface InjectOptions extends FaultParams {
  /** The driver (default: the manager's only driver). */
  driver?: string;
  /** An instance id (from `snapshot()`); default: chosen by `target`. */
  instance?: string;
  /** Which live handler, as a fraction in [0, 1) of the live ones in snapshot order (default 0: the first). */
  target?: number;
  /** How long to wait for a live handler when there is none (default 5000; 0 = give up at once). */
  waitMs?: number;
}

/**
 * What an injection did.
 *
 * @example
 * ```ts
 * const injection: Injection = await faults.inject(manager, 'kill');
 * if (!injection.delivered) console.warn(injection.reason);
 * ```
 */
export interface Injection {
  fault: FaultName;
  driver: string;
  /** The instance hit (undefined for faults armed for the next start, and for disk faults). */
  instance: string | undefined;
  /** The pid the manager knows (the shim's, under `faults.createManager`). */
  pid: number | undefined;
  /** The pid that received a signal (the real handler behind a shim). */
  signalled: number | undefined;
  params: FaultParams;
  delivered: boolean;
  /** Why it was not delivered. */
  reason?: string;
  /** Disk faults: undoes the damage. Also undone by `faults.heal(manager)`. */
  heal?: Heal;
}

const SIGNALS: Partial<Record<FaultName, NodeJS.Signals>> = { kill: 'SIGKILL', segv: 'SIGSEGV', abort: 'SIGABRT', hang: 'SIGSTOP' };

const unhealed = new WeakMap<Manager, Set<Heal>>();

/**
 * Injects `fault` into a running manager and resolves once it is delivered (a signal sent, a
 * shim's confirmation received, a file changed). Faults on answers (`bitflip`, `truncate`,
 * `duplicateId`, `missingId`, `slow`) hit the next answer of that handler; `noHello` hits the next
 * start of the driver. Rejects with `TypeError` for a fault that needs the shim on a manager
 * without it, and with `RangeError` for bad options.
 *
 * @example
 * ```ts
 * const manager = await faults.createManager({ children: [driver] });
 * const pending = manager.request('parser', input);
 * await faults.inject(manager, 'kill', { driver: 'parser' });
 * await pending; // rejects HANDLER_CRASHED
 * ```
 */
export async function inject(manager: Manager, fault: FaultName, options: InjectOptions = {}): Promise<Injection> {
  const name = faultName('fault', fault);
  const o = validateInjectOptions(options);
  const info = faultInfo(name);
  const lab = labOf(manager);
  const driver = o.driver ?? onlyDriver(manager);
  const params: FaultParams = pickParams(o);
  const result = (fields: Partial<Injection>): Injection => ({ fault: name, driver, instance: undefined, pid: undefined, signalled: undefined, params, delivered: false, ...fields });

  if (info.mechanism === 'shim' && lab === undefined) {
    throw new TypeError(`fault "${name}" needs the fault shim: create the manager with faults.createManager(...) (signal faults kill, segv, abort and hang, and the disk faults, work on any manager)`);
  }
  if (name === 'noHello') {
    lab!.armStart(driver, name, params);
    return result({ delivered: true });
  }

  const target = await liveHandler(manager, driver, o);
  if (target === undefined) {
    // A disk fault still needs to know the directory: the lab saw it at launch even if no handler runs now.
    if (info.mechanism !== 'disk' || lab?.dirs.get(driver) === undefined) return result({ reason: `no live handler of "${driver}"` });
  }

  if (info.mechanism === 'disk') {
    const dir = lab?.dirs.get(driver) ?? (await readlink(`/proc/${target!.pid}/cwd`));
    // A stopping manager is removing the image's directory: repairing the image then would race it.
    const heal = name === 'tamperImage'
      ? await tamperFile(await imageFile(dir, driver), params, { restoreIf: () => !manager.stopped })
      : await makeUnwritable(dirname(dir));
    const set = unhealed.get(manager) ?? new Set<Heal>();
    unhealed.set(manager, set);
    const once: Heal = async () => {
      set.delete(once);
      await heal();
    };
    set.add(once);
    return result({ instance: target?.instance, pid: target?.pid, delivered: true, heal: once });
  }

  const { instance, pid } = target!;
  const signal = SIGNALS[name];
  if (signal !== undefined) {
    // hang stops the whole group (the process the manager watches included); the others go to the
    // real handler, whose death a shim mirrors.
    const victim = name === 'hang' ? -pid : (lab?.shim(pid)?.childPid ?? pid);
    try {
      process.kill(victim, signal);
    } catch (err) {
      return result({ instance, pid, reason: `${signal} to ${victim} failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    }
    return result({ instance, pid, signalled: Math.abs(victim), delivered: true });
  }
  const delivered = await lab!.command(pid, name, params);
  return result({ instance, pid, delivered, ...(delivered ? {} : { reason: `the shim of pid ${pid} did not confirm (gone or stopped)` }) });
}

/**
 * Undoes every disk fault injected into `manager` and not yet healed. Call it before
 * `manager.stop()`: an unwritable root also stops the manager from removing its images.
 *
 * @example
 * ```ts
 * await faults.inject(manager, 'unwritableRoot');
 * // ...
 * await faults.heal(manager);
 * await manager.stop();
 * ```
 */
export async function heal(manager: Manager): Promise<void> {
  for (const undo of [...(unhealed.get(manager) ?? [])]) await undo();
}

/**
 * The live handlers of `driver` in snapshot order: instances with a process that said hello.
 *
 * @example
 * ```ts
 * const [first] = liveHandlers(manager, 'parser'); // { instance: 'V1StGXR8_Z', pid: 4242 }
 * ```
 */
export function liveHandlers(manager: Manager, driver: string): Array<{ instance: string; pid: number }> {
  const node = findDriver(manager.snapshot(), driver);
  if (node === undefined) throw new RangeError(`options.driver must name a driver of this manager, got ${JSON.stringify(driver)}`);
  return (node.children ?? [])
    .filter((i) => i.pid !== null && (i.state === 'ready' || i.state === 'busy'))
    .map((i) => ({ instance: i.id!, pid: i.pid! }));
}

/**
 * Every driver name in the manager's tree, in tree order.
 *
 * @example
 * ```ts
 * driverNames(manager); // ['parser', 'thumbnailer']
 * ```
 */
export function driverNames(manager: Manager): string[] {
  const names: string[] = [];
  const walk = (node: SnapshotNode) => {
    if (node.kind === 'driver') names.push(node.name);
    else for (const child of node.children ?? []) walk(child);
  };
  walk(manager.snapshot());
  return names;
}

function onlyDriver(manager: Manager): string {
  const names = driverNames(manager);
  if (names.length !== 1) throw new TypeError(`options.driver must be given when the manager has ${names.length} drivers (${names.join(', ')})`);
  return names[0]!;
}

function findDriver(node: SnapshotNode, name: string): SnapshotNode | undefined {
  if (node.kind === 'driver') return node.name === name ? node : undefined;
  for (const child of node.children ?? []) {
    const hit = findDriver(child, name);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

async function liveHandler(manager: Manager, driver: string, o: InjectOptions): Promise<{ instance: string; pid: number } | undefined> {
  const until = Date.now() + (o.waitMs ?? 5000);
  for (;;) {
    const live = liveHandlers(manager, driver).filter((h) => o.instance === undefined || h.instance === o.instance);
    if (live.length > 0) return live[Math.min(live.length - 1, Math.floor((o.target ?? 0) * live.length))];
    if (Date.now() >= until || manager.stopped) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The image file in a private directory: `<name>.mjs` or `<name>.cjs` for node images, `<name>` for exec images. */
async function imageFile(dir: string, driver: string): Promise<string> {
  for (const candidate of [join(dir, `${driver}.cjs`), join(dir, `${driver}.mjs`), join(dir, driver)]) {
    if (await access(candidate).then(() => true, () => false)) return candidate;
  }
  throw new Error(`no image of "${driver}" in ${dir}`);
}

function pickParams(o: InjectOptions): FaultParams {
  const params: FaultParams = {};
  if (o.code !== undefined) params.code = o.code;
  if (o.ms !== undefined) params.ms = o.ms;
  if (o.fraction !== undefined) params.fraction = o.fraction;
  if (o.bit !== undefined) params.bit = o.bit;
  if (o.byte !== undefined) params.byte = o.byte;
  return params;
}

function validateInjectOptions(options: unknown): InjectOptions {
  const o = plainObject('options', options) as InjectOptions;
  knownKeys('options', o as Record<string, unknown>, ['driver', 'instance', 'target', 'waitMs', 'code', 'ms', 'fraction', 'bit', 'byte']);
  if (o.driver !== undefined && typeof o.driver !== 'string') throw new TypeError(`options.driver must be a string, got ${typeof o.driver}`);
  if (o.instance !== undefined && typeof o.instance !== 'string') throw new TypeError(`options.instance must be a string, got ${typeof o.instance}`);
  if (o.target !== undefined) numberInRange('options.target', o.target, 0, 1);
  if (o.waitMs !== undefined) nonNegativeInteger('options.waitMs', o.waitMs);
  if (o.code !== undefined) numberInRange('options.code', positiveInteger('options.code', o.code), 1, 255);
  if (o.ms !== undefined) nonNegativeInteger('options.ms', o.ms);
  if (o.fraction !== undefined) numberInRange('options.fraction', o.fraction, 0, 1);
  if (o.bit !== undefined) numberInRange('options.bit', nonNegativeInteger('options.bit', o.bit), 0, 7);
  if (o.byte !== undefined) nonNegativeInteger('options.byte', o.byte);
  return o;
}
