import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { nanoid } from 'nanoid';
import { UmdError } from '../errors.js';
import { sha256Hex } from './image.js';

/**
 * The bytes a handler runs from: for each spawn, a fresh copy of the verified image in a file that
 * has no name (`O_TMPFILE`), written, then reopened read-only and the writer closed, then hashed
 * through that read-only descriptor. The handler receives the descriptor as fd 3 and runs
 * `/proc/self/fd/3`. Nothing is ever re-opened by path after the hash, so a writer racing the spawn
 * (rewriting the extracted file in a loop) can change nothing that runs: no path leads to the copy,
 * and no writable descriptor of it exists once it is hashed.
 */

/** The descriptor number a handler finds its image on. */
export const IMAGE_FD = 3;
/** The path a handler's image is run from (its own fd 3). */
export const IMAGE_PATH = `/proc/self/fd/${IMAGE_FD}`;

/**
 * A read-only descriptor of one unnamed, hashed copy of an image.
 *
 * @example
 * ```ts
 * const sealed = await sealedCopy(dir, bytes, sha256, 'exec', 'parser');
 * try { spawn(..., { stdio: ['pipe', 'pipe', 'pipe', sealed.fd] }); } finally { await sealed.close(); }
 * ```
 */
export interface SealedCopy {
  readonly fd: number;
  close(): Promise<void>;
}

// O_TMPFILE is not in fs.constants; its value is __O_TMPFILE | O_DIRECTORY on every Linux architecture Node runs on.
const O_TMPFILE = 0o20000000 | (constants.O_DIRECTORY ?? 0);

/**
 * Writes `bytes` to a new unnamed file in `dir` and returns a read-only descriptor of it after
 * checking, through that descriptor, that it holds exactly `sha256`. The file is readable (and for
 * exec images executable) by anyone who holds it, because only the handler will: it has no name,
 * and `O_EXCL` forbids giving it one. Where the file system has no `O_TMPFILE`, a named file is
 * created, opened read-only and unlinked before the hash. Rejects with `INTEGRITY` on a mismatch,
 * `SPAWN` when the copy cannot be made.
 *
 * @example
 * ```ts
 * const sealed = await sealedCopy(loaded.dir, bytes, loaded.image.sha256, 'node', 'parser');
 * ```
 */
export async function sealedCopy(dir: string, bytes: Uint8Array, sha256: string, kind: 'node' | 'exec', driver: string): Promise<SealedCopy> {
  const mode = kind === 'exec' ? 0o555 : 0o444;
  let reader: FileHandle;
  try {
    reader = await unnamedCopy(dir, bytes, mode);
  } catch (cause) {
    throw new UmdError('SPAWN', `cannot copy the image of driver "${driver}" for a spawn in ${dir}: ${(cause as Error).message}`, { driver }, { cause });
  }
  try {
    const actual = sha256Hex(await readAll(reader, bytes.length));
    if (actual !== sha256) {
      throw new UmdError('INTEGRITY', `the copy of the image of driver "${driver}" made for a spawn does not match its pinned sha256: expected ${sha256}, got ${actual}`, {
        driver,
        expected: sha256,
        actual,
      });
    }
  } catch (err) {
    await reader.close();
    throw err;
  }
  return { fd: reader.fd, close: () => reader.close() };
}

async function unnamedCopy(dir: string, bytes: Uint8Array, mode: number): Promise<FileHandle> {
  let writer: FileHandle;
  let named: string | undefined;
  try {
    writer = await open(dir, constants.O_RDWR | constants.O_EXCL | O_TMPFILE, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EOPNOTSUPP' && code !== 'EISDIR' && code !== 'EINVAL' && code !== 'ENOTSUP') throw err;
    named = join(dir, `.copy-${nanoid()}`);
    writer = await open(named, 'wx', mode);
  }
  try {
    await writer.writeFile(bytes);
    await writer.chmod(mode); // the umask may have taken bits off
    // Reopened through the writer's own descriptor: the same file, whatever now sits at any path.
    const reader = await open(`/proc/self/fd/${writer.fd}`, 'r');
    if (named !== undefined) await unlink(named);
    return reader;
  } finally {
    await writer.close();
    if (named !== undefined) await unlink(named).catch(() => {});
  }
}

/** Reads the whole file through `handle` from offset 0 (pread: the offset of the descriptor is untouched). */
async function readAll(handle: FileHandle, size: number): Promise<Uint8Array> {
  const buffer = Buffer.alloc(size + 1); // one byte more: a longer file must not pass as the right one
  let got = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, got, buffer.length - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
    if (got === buffer.length) {
      return buffer; // longer than the image: the hash will not match
    }
  }
  return buffer.subarray(0, got);
}
