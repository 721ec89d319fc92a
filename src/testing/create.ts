import { createManager, type Manager } from '../manager/manager.js';
import type { ManagerOptions } from '../manager/options.js';
import type { ManagedDrivers } from '../manager/typed.js';
import { FaultLab, registerLab } from './lab.js';

/**
 * `faults.createManager`: a real manager whose every handler runs behind the fault shim, so that
 * any fault can be injected into it. Opt-in by construction: nothing else ever starts a shim.
 *
 * Differences from a plain manager, all visible: `spawn` events and snapshots show the shim's pid
 * (the real handler is its child, in the same process group); each start costs one more Node
 * start (~40 ms); every answer is copied once more on its way. The lab (a private directory with
 * the shim and its control socket) is removed when the manager has stopped.
 *
 * @example
 * ```ts
 * import { faults } from 'umdkit/testing';
 * const manager = await faults.createManager({ children: [defineDriver(parser)], runtimeDir });
 * await faults.inject(manager, 'bitflip', { driver: 'parser' });
 * ```
 */
export async function createFaultyManager<Options extends ManagerOptions>(options: Options): Promise<Manager<ManagedDrivers<Options>>> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`options must be an object, got ${options === null ? 'null' : typeof options}`);
  const lab = await FaultLab.open();
  const onEvent = options.onEvent;
  try {
    const manager = await createManager({
      ...options,
      launchWrapper: lab.wrapLaunch,
      onEvent: (event) => {
        lab.observe(event);
        onEvent?.(event);
      },
    });
    registerLab(manager, lab);
    return manager;
  } catch (err) {
    lab.close();
    throw err;
  }
}
