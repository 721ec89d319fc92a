import { matching } from '../util/options.js';

/**
 * Driver names double as file names and argv[0] of the handler: keep them short and plain, so no
 * name can climb out of its directory or smuggle shell syntax. Same rule as `defineDriver`.
 */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Returns `value` if it is a valid driver name; throws a `TypeError`/`RangeError` naming `path` otherwise.
 *
 * @example
 * ```ts
 * driverName('options.name', 'parser'); // 'parser'
 * driverName('options.name', '../x');   // RangeError: options.name must be a name of 1-64 letters, ...
 * ```
 */
export function driverName(path: string, value: unknown): string {
  return matching(path, value, NAME, 'a name of 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
}
