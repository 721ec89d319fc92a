import { readFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerPidOf } from './private-dir.js';
import { ROOT_NAME, runtimeBases } from './runtime-dir.js';

/**
 * Removes the private directories whose owning parent died without unloading (SIGKILL, OOM,
 * power loss of a tmpfs-less host): `umdkit-<pid>-*` where `<pid>` is no longer a live process.
 * A zombie (dead, not yet reaped by its own parent) counts as dead.
 * Directories of live pids (this process included) are never touched. Returns the removed paths.
 *
 * Without `root`, sweeps `<base>/umdkit` of every base `runtimeRoot` may choose.
 *
 * A reused pid keeps a dead parent's directory until that pid is gone too: sweeping errs on the
 * side of leaving files, never of removing a live parent's image.
 *
 * @example
 * ```ts
 * const removed = await sweepStale(); // at start-up
 * if (removed.length > 0) console.warn(`removed ${removed.length} stale image directories`);
 * ```
 */
export async function sweepStale(root?: string): Promise<string[]> {
  const roots = root === undefined ? runtimeBases().map((base) => join(base, ROOT_NAME)) : [root];
  const removed: string[] = [];
  for (const dir of roots) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue; // no root there: nothing was ever extracted to it
    }
    for (const name of names) {
      const pid = ownerPidOf(name);
      if (pid === undefined || pid === process.pid || isAlive(pid)) continue;
      const path = join(dir, name);
      await rm(path, { recursive: true, force: true });
      removed.push(path);
    }
  }
  return removed;
}

/**
 * Signal 0 checks for existence only; EPERM means it exists but belongs to someone else. A zombie
 * exists too, but it is dead: its state in `/proc/<pid>/stat` (the field after the parenthesised
 * name, which may itself hold spaces and parentheses) is `Z`.
 */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false; // no /proc (not Linux), or it went away just now: the next sweep decides
  }
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}
