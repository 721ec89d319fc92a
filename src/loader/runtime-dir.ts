import { lstat, mkdir, readFile, realpath, stat, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { UmdError } from '../errors.js';
import type { Image } from './image.js';

/**
 * Where images are extracted. Each load gets a private directory `umdkit-<parentPid>-<id>` inside
 * one root, `<base>/umdkit`, so a later start can tell whose directories are stale (the pid).
 *
 * Bases, best first: `$XDG_RUNTIME_DIR` (per user, tmpfs, removed at logout), `/dev/shm` (tmpfs),
 * `os.tmpdir()`. Memory-backed bases keep the image off disk. An `exec` image must be executed by
 * the kernel, so a base on a `noexec` mount is skipped for it; a `node` image is only read by node,
 * so `noexec` does not matter there.
 */

/**
 * Name of the root directory inside a base.
 *
 * @example
 * ```ts
 * join('/dev/shm', ROOT_NAME); // '/dev/shm/umdkit'
 * ```
 */
export const ROOT_NAME = 'umdkit';

/**
 * Options of {@link runtimeRoot}.
 *
 * @example
 * ```ts
 * await runtimeRoot({ kind: 'exec', env: { XDG_RUNTIME_DIR: '/run/user/1000' } });
 * ```
 */
export interface RuntimeRootOptions {
  /** Use this directory as the root instead of choosing one (created 0700 if missing). */
  root?: string;
  /** What will run from the root (default `node`): `exec` skips `noexec` mounts. */
  kind?: Image['kind'];
  /** Environment to read `XDG_RUNTIME_DIR` from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Bases to try, best first (default `runtimeBases(env)`). */
  bases?: readonly string[];
  /** Text of `/proc/self/mountinfo` (default: read it; where it is missing, no mount counts as noexec). */
  mountinfo?: string;
}

/**
 * One line of `/proc/self/mountinfo`: where it is mounted and its per-mount options.
 *
 * @example
 * ```ts
 * const shm: MountEntry = { mountPoint: '/dev/shm', options: ['rw', 'nosuid', 'noexec'] };
 * ```
 */
export interface MountEntry {
  mountPoint: string;
  options: string[];
}

/**
 * The bases to try, best first (duplicates removed).
 *
 * @example
 * ```ts
 * runtimeBases({ XDG_RUNTIME_DIR: '/run/user/1000' }); // ['/run/user/1000', '/dev/shm', os.tmpdir()]
 * ```
 */
export function runtimeBases(env: NodeJS.ProcessEnv = process.env): string[] {
  const bases: string[] = [];
  const xdg = env.XDG_RUNTIME_DIR;
  // The spec says a relative value must be ignored.
  if (xdg !== undefined && xdg.startsWith('/')) bases.push(xdg);
  bases.push('/dev/shm', tmpdir());
  return [...new Set(bases)];
}

/**
 * Parses `/proc/self/mountinfo` (see proc(5)): field 5 is the mount point (octal escapes for
 * spaces and the like), field 6 the per-mount options, where `noexec` lives.
 *
 * @example
 * ```ts
 * parseMountinfo('30 25 0:27 / /dev/shm rw,nosuid,noexec - tmpfs tmpfs rw');
 * // [{ mountPoint: '/dev/shm', options: ['rw', 'nosuid', 'noexec'] }]
 * ```
 */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const mountPoint = fields[4];
    const options = fields[5];
    if (mountPoint === undefined || options === undefined) continue;
    entries.push({
      mountPoint: mountPoint.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))),
      options: options.split(','),
    });
  }
  return entries;
}

/**
 * True when `path` (already resolved, no symlinks) lies on a mount with the `noexec` option: the
 * mount with the longest mount point containing it, the later one when two share a mount point
 * (it is mounted on top).
 *
 * @example
 * ```ts
 * isNoexec('/dev/shm/umdkit', parseMountinfo(text)); // true on hosts that mount /dev/shm noexec
 * ```
 */
export function isNoexec(path: string, mounts: readonly MountEntry[]): boolean {
  let best: MountEntry | undefined;
  for (const mount of mounts) {
    const inside = mount.mountPoint === '/' || path === mount.mountPoint || path.startsWith(mount.mountPoint + sep);
    if (inside && (best === undefined || mount.mountPoint.length >= best.mountPoint.length)) best = mount;
  }
  return best?.options.includes('noexec') ?? false;
}

/**
 * Returns the extraction root for images of `kind`, creating it (mode 0700) if needed: `root`
 * when given, else `<base>/umdkit` in the first base that is a directory, fits the kind and holds
 * (or can hold) a `umdkit` directory that is ours (not a symlink, owned by this user). Rejects
 * with `SPAWN` when no base fits.
 *
 * @example
 * ```ts
 * const root = await runtimeRoot({ kind: 'exec' }); // e.g. '/run/user/1000/umdkit'
 * const forTests = await runtimeRoot({ root: await mkdtemp(join(tmpdir(), 'umdkit-test-')) });
 * ```
 */
export async function runtimeRoot(options: RuntimeRootOptions = {}): Promise<string> {
  const kind = options.kind ?? 'node';
  const mounts = kind === 'exec' ? parseMountinfo(options.mountinfo ?? (await readMountinfo())) : [];
  if (options.root !== undefined) {
    const problem = await prepareRoot(options.root, kind, mounts, true);
    if (problem !== undefined) {
      throw new UmdError('SPAWN', `cannot use ${JSON.stringify(options.root)} as the extraction root: ${problem}`);
    }
    return options.root;
  }
  const refused: string[] = [];
  for (const base of options.bases ?? runtimeBases(options.env)) {
    const root = join(base, ROOT_NAME);
    // A missing base is skipped, never created: /dev/shm does not exist everywhere.
    const problem = (await isDirectory(base)) ? await prepareRoot(root, kind, mounts, false) : 'the base does not exist';
    if (problem === undefined) return root;
    refused.push(`${root}: ${problem}`);
  }
  throw new UmdError('SPAWN', `no directory fits to extract a ${kind} image (${refused.join('; ')})`);
}

async function readMountinfo(): Promise<string> {
  try {
    return await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return ''; // not Linux: nothing is known to be noexec, and a failed exec will say so
  }
}

/** Creates `root` if missing and checks it; returns why it cannot be used, or undefined. */
async function prepareRoot(root: string, kind: Image['kind'], mounts: readonly MountEntry[], createParents: boolean): Promise<string | undefined> {
  try {
    await mkdir(root, { recursive: createParents, mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    // lstat, not stat: in a shared base such as /dev/shm, another user could plant a symlink.
    const info = await lstat(root);
    if (!info.isDirectory()) return 'not a directory';
    const uid = process.getuid?.();
    if (uid !== undefined && info.uid !== uid) return `owned by uid ${info.uid}, not by this user (uid ${uid})`;
    if ((info.mode & 0o077) !== 0) await chmod(root, 0o700);
    if (kind === 'exec' && isNoexec(await realpath(root), mounts)) return 'on a noexec mount';
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
