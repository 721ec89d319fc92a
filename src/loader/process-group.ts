/**
 * Sends `signal` to the whole process group led by `pid` (handlers are spawned detached, so each
 * leads its own group and anything it started dies with it). A group that is already gone
 * (ESRCH) is not an error.
 *
 * @example
 * ```ts
 * signalGroup(handler.pid, 'SIGKILL');
 * ```
 */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
