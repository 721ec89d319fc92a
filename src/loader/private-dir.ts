import { nanoid } from 'nanoid';

/**
 * Names of the per-load private directories: `umdkit-<parentPid>-<nanoid>`. The pid says whose
 * directory it is, so a later start can sweep the directories of parents that died without
 * cleaning up; the nanoid keeps two loads of one parent apart.
 */

const PRIVATE_DIR = /^umdkit-([1-9][0-9]*)-[A-Za-z0-9_-]+$/;

/**
 * A fresh private directory name owned by `pid` (default: this process).
 *
 * @example
 * ```ts
 * privateDirName(); // 'umdkit-4242-V1StGXR8_Z5jdHi6B-myT'
 * ```
 */
export function privateDirName(pid: number = process.pid): string {
  return `umdkit-${pid}-${nanoid()}`;
}

/**
 * The pid that owns a private directory name, or undefined when the name is not one of ours.
 *
 * @example
 * ```ts
 * ownerPidOf('umdkit-4242-V1StGXR8_Z5jdHi6B-myT'); // 4242
 * ownerPidOf('something-else');                    // undefined
 * ```
 */
export function ownerPidOf(name: string): number | undefined {
  const match = PRIVATE_DIR.exec(name);
  return match === null ? undefined : Number(match[1]);
}
