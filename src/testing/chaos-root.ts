import { readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isNoexec, parseMountinfo, runtimeBases } from '../loader/runtime-dir.js';

/** Where a chaos run extracts its images, and what it finds there afterwards. */

/**
 * An extraction root must allow exec for exec images: the first base not mounted noexec.
 *
 * @example
 * ```ts
 * const root = await mkdtemp(join(execCapableBase(), 'umdkit-chaos-'));
 * ```
 */
export function execCapableBase(): string {
  let mounts: ReturnType<typeof parseMountinfo> = [];
  try {
    mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    // not Linux: nothing is known to be noexec
  }
  for (const base of [...runtimeBases(), tmpdir()]) {
    try {
      if (!isNoexec(base, mounts)) return base;
    } catch {
      continue;
    }
  }
  return tmpdir();
}

/**
 * Entries below `dir`, recursively (0 when it is empty or gone).
 *
 * @example
 * ```ts
 * const leftoverFiles = await countEntries(root);
 * ```
 */
export async function countEntries(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    n++;
    const path = join(dir, name);
    if ((await stat(path).catch(() => undefined))?.isDirectory()) n += await countEntries(path);
  }
  return n;
}

