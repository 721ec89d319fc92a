import { readdir, readFile } from 'node:fs/promises';

/**
 * Descriptors this process holds without close-on-exec. Node opens everything close-on-exec, but a
 * process can inherit descriptors from whoever started it (a shell's `20<secret`, a supervisor's
 * socket) and native code can open more; libuv's spawn passes every such descriptor on to the
 * child, where a handler could read it (the Node permission model does not check descriptors).
 * The spawn covers each one with /dev/null in the child, so a handler receives only the
 * descriptors umdkit gives it.
 */

/** O_CLOEXEC as `/proc/<pid>/fdinfo/<fd>` reports it (octal `flags:` field). */
const O_CLOEXEC = 0o2000000;

/**
 * The descriptors from 3 up that would survive an exec, read from `/proc/self/fd` and `fdinfo`
 * (empty where /proc is missing: not Linux). A descriptor closed while it is being looked at is
 * left out.
 *
 * @example
 * ```ts
 * // started as `node service.mjs 20</etc/secret`
 * await inheritableFds(); // [20]
 * ```
 */
export async function inheritableFds(): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir('/proc/self/fd');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd < 3) continue;
    const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => undefined);
    const flags = info === undefined ? undefined : /^flags:\s*([0-7]+)$/m.exec(info)?.[1];
    if (flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) === 0) found.push(fd);
  }
  return found.sort((a, b) => a - b);
}
