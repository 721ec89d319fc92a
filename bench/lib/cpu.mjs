import { readdirSync, readFileSync } from 'node:fs';

/** Nanoseconds a process has run on a CPU so far, all its threads (from /proc/<pid>/task/<tid>/schedstat); NaN when unreadable. */
export function processCpuNs(pid) {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // a thread that ended between the listing and the read
      }
    }
    return ns;
  } catch {
    return NaN;
  }
}

/**
 * CPU used by this process (all its threads: worker pools included) and by the given child
 * processes, from now until the returned function is called, in microseconds.
 *
 * @example
 * const stop = cpuMeter([child.pid]);
 * await work();
 * const { parentUs, childUs } = stop();
 */
export function cpuMeter(pids) {
  const parent0 = process.cpuUsage();
  const children0 = pids.map(processCpuNs);
  return () => {
    const parent = process.cpuUsage(parent0);
    let childUs = 0;
    pids.forEach((pid, i) => {
      childUs += (processCpuNs(pid) - children0[i]) / 1000;
    });
    return { parentUs: parent.user + parent.system, childUs };
  };
}
