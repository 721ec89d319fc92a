import type { ManagerOptions } from '../manager/options.js';
import { validateManagerOptions } from '../manager/options.js';
import { driversOf } from '../manager/tree-spec.js';

/**
 * The names of the permanent drivers of a tree: what readiness waits for (a temporary or
 * transient driver may be gone by design without the service being unready).
 *
 * @example
 * ```ts
 * permanentDrivers({ children: [parser, { ...thumbnailer, restart: 'temporary' }] }); // ['parser']
 * ```
 */
export function permanentDrivers(options: ManagerOptions): string[] {
  return driversOf(validateManagerOptions(options).tree).filter((d) => d.restart === 'permanent').map((d) => d.name);
}
