import { readdirSync, readFileSync } from 'node:fs';

/**
 * What /proc says about processes: the leak check behind the "no process left" invariant. Linux
 * only (umdkit's process groups, private tmpfs and sandbox layers are Linux features too).
 *
 * Pids are reused (pid_max is often 32768, and a chaos run starts hundreds of processes), so a
 * process is identified by its pid *and* its start time: a later process that got the same pid is
 * someone else's, never reported as a survivor.
 */

/**
 * A process as it was when it was seen alive: its pid and its start time (clock ticks since boot).
 *
 * @example
 * ```ts
 * const who: ProcessIdentity = { pid: 4242, start: 987654 };
 * ```
 */
export interface ProcessIdentity {
  pid: number;
  start: number;
}

interface Stat {
  state: string;
  pgrp: number;
  start: number;
}

function statOf(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    // There, index 0 is field 3 (state) of proc(5); pgrp is field 5, starttime field 22.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, pgrp: Number(fields[2]), start: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

const running = (stat: Stat | undefined): stat is Stat => stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';

/**
 * The identity of `pid` now, or undefined if it is not running (a zombie counts as gone).
 *
 * @example
 * ```ts
 * manager.subscribe((e) => { if (e.type === 'spawn') seen.push(identify(e.pid)!); });
 * ```
 */
export function identify(pid: number): ProcessIdentity | undefined {
  const stat = statOf(pid);
  return running(stat) ? { pid, start: stat.start } : undefined;
}

/**
 * True while this very process runs (same pid, same start time). A zombie counts as gone: it has
 * exited and only waits to be reaped by whoever adopted it.
 *
 * @example
 * ```ts
 * if (stillRunning(who)) console.warn(`${who.pid} outlived its manager`);
 * ```
 */
export function stillRunning(who: ProcessIdentity): boolean {
  const stat = statOf(who.pid);
  return running(stat) && stat.start === who.start;
}

/**
 * The processes among `known` still running, plus every running member of a process group one
 * of them led (handlers lead their own group, so this finds whatever a handler started, even
 * after the handler itself is gone). Waits up to `graceMs` for stragglers (a SIGKILLed group takes
 * a moment to die), polling. Returns their pids, sorted.
 *
 * A group id stays ours while its leader runs, or while it has members and no process holds the
 * leader's pid (the kernel never hands out a pid still used as a group id).
 *
 * @example
 * ```ts
 * await manager.stop();
 * const orphans = await survivors(spawned, 2000); // [] when nothing outlived the manager
 * ```
 */
export async function survivors(known: Iterable<ProcessIdentity>, graceMs = 2000): Promise<number[]> {
  const list = [...known];
  const until = Date.now() + graceMs;
  for (;;) {
    const alive = scan(list);
    if (alive.length === 0 || Date.now() >= until) return alive;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function scan(known: readonly ProcessIdentity[]): number[] {
  const alive = new Set<number>();
  const groups = new Set<number>();
  for (const who of known) {
    const stat = statOf(who.pid);
    if (running(stat) && stat.start === who.start) alive.add(who.pid);
    // Ours while the leader is ours, or while no process holds its pid at all.
    if (stat === undefined || stat.start === who.start) groups.add(who.pid);
  }
  if (groups.size > 0) {
    let names: string[] = [];
    try {
      names = readdirSync('/proc');
    } catch {
      // no /proc: nothing more to find
    }
    for (const name of names) {
      if (!/^[0-9]+$/.test(name)) continue;
      const stat = statOf(Number(name));
      if (running(stat) && groups.has(stat.pgrp)) alive.add(Number(name));
    }
  }
  return [...alive].sort((a, b) => a - b);
}
