import { chmod, lstat, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Where the service socket lives by default: a per-user directory nobody else can enter, so the
 * socket's own mode (0600) is the second lock, not the only one.
 */

/**
 * File name of the default socket inside {@link socketDir}.
 *
 * @example
 * ```ts
 * join(socketDir(), SOCKET_NAME); // the default socket path
 * ```
 */
export const SOCKET_NAME = 'umdkit.sock';

/**
 * Longest socket path the kernel takes (`sun_path` is 108 bytes with its terminating NUL).
 *
 * @example
 * ```ts
 * if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) throw new RangeError('socket path too long');
 * ```
 */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * The per-user runtime directory for sockets: `$XDG_RUNTIME_DIR/umdkit` when that variable holds
 * an absolute path, else `<tmpdir>/umdkit-<uid>` (usually `/tmp/umdkit-<uid>`).
 *
 * @example
 * ```ts
 * socketDir({ XDG_RUNTIME_DIR: '/run/user/1000' }); // '/run/user/1000/umdkit'
 * socketDir({});                                   // '/tmp/umdkit-1000'
 * ```
 */
export function socketDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_RUNTIME_DIR;
  // The XDG spec says a relative value must be ignored.
  if (xdg !== undefined && xdg.startsWith('/')) return join(xdg, 'umdkit');
  return join(tmpdir(), `umdkit-${process.getuid?.() ?? 'user'}`);
}

/**
 * The socket `umdkit run`, `call` and `status` use when `--socket` is not given.
 *
 * @example
 * ```ts
 * defaultSocketPath(); // e.g. '/run/user/1000/umdkit/umdkit.sock'
 * ```
 */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(socketDir(env), SOCKET_NAME);
}

/**
 * Creates the directory of the default socket (mode 0700) if it is missing, and refuses one that
 * is not ours: a symlink, not a directory, or owned by another user (in a shared `/tmp`, another
 * user could have created it first). A mode wider than 0700 is narrowed.
 *
 * @example
 * ```ts
 * await ensureSocketDir(dirname(defaultSocketPath()));
 * ```
 */
export async function ensureSocketDir(dir: string): Promise<void> {
  // Parents of an XDG runtime dir exist; the parent of /tmp/umdkit-<uid> is /tmp.
  await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
  await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const info = await lstat(dir);
  if (info.isSymbolicLink()) throw new Error(`the socket directory ${dir} is a symlink; refusing to use it`);
  if (!info.isDirectory()) throw new Error(`the socket directory ${dir} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) throw new Error(`the socket directory ${dir} is owned by uid ${info.uid}, not by this user (uid ${uid})`);
  if ((info.mode & 0o077) !== 0) await chmod(dir, 0o700);
}

/**
 * Throws when `path` cannot name a Unix socket: empty, or longer than the kernel's limit.
 *
 * @example
 * ```ts
 * checkSocketPath('/run/user/1000/umdkit/umdkit.sock'); // fine
 * checkSocketPath('/' + 'x'.repeat(200));             // throws RangeError
 * ```
 */
export function checkSocketPath(path: string): void {
  if (path.length === 0) throw new TypeError('the socket path must not be empty');
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new RangeError(`the socket path must be at most ${MAX_SOCKET_PATH_BYTES} bytes, got ${bytes} (${JSON.stringify(path)})`);
  }
}
