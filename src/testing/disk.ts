import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FaultParams } from './catalogue.js';

/**
 * The disk faults, each with its undo: a bit flipped in an extracted image, an extraction root
 * that cannot be written. Both act on real files; both must be healed before the manager stops,
 * or the stop itself cannot remove what it extracted (which is the point of testing them).
 *
 * Faults on one path overlap (a schedule may hit the same image twice before the first is
 * healed): the pristine state is saved by the first, later ones add to the damage, and the path
 * is put back as it was when the last of them is healed — never to a half-damaged state.
 */

const run = promisify(execFile);

/**
 * Undoes one disk fault; safe to call twice.
 *
 * @example
 * ```ts
 * const heal: Heal = await makeUnwritable(root);
 * await heal();
 * ```
 */
export type Heal = () => Promise<void>;

interface Damage {
  /** Faults on this path not yet healed. */
  count: number;
  restore: () => Promise<void>;
}

const damaged = new Map<string, Damage>();
const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier operation on `path`: two faults fired at once must not interleave. */
function serial<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const next = (queues.get(path) ?? Promise.resolve()).then(fn, fn);
  const settled = next.then(() => {}, () => {});
  queues.set(path, settled);
  void settled.then(() => {
    if (queues.get(path) === settled) queues.delete(path);
  });
  return next;
}

/** Registers one more fault on `path`; `first` damages it (and says how to restore it) if it is not damaged yet. */
function damage(path: string, first: () => Promise<() => Promise<void>>, again: () => Promise<void>): Promise<Heal> {
  return serial(path, async () => {
    let entry = damaged.get(path);
    if (entry === undefined) {
      const restore = await first();
      entry = { count: 0, restore };
      damaged.set(path, entry);
    } else {
      await again();
    }
    entry.count++;
    const current = entry;
    let healed = false;
    return () =>
      serial(path, async () => {
        if (healed) return;
        healed = true;
        if (--current.count > 0) return;
        damaged.delete(path);
        await current.restore();
      });
  });
}

/**
 * Flips one bit of `file` (the byte at `params.byte`, else at `params.fraction` of its length;
 * bit `params.bit`, default 0) and returns how to put the original bytes back. The file keeps its
 * mode (an image is 0500: write access is lent for the flip and taken back). `options.restoreIf`,
 * when given, is asked at heal time whether the original is still worth putting back.
 *
 * @example
 * ```ts
 * const heal = await tamperFile(join(dir, 'parser.mjs'), { fraction: 0.5 });
 * // ... the next spawn refuses the image with INTEGRITY ...
 * await heal();
 * ```
 */
export async function tamperFile(file: string, params: FaultParams = {}, options: { restoreIf?: () => boolean } = {}): Promise<Heal> {
  const flip = async (): Promise<Buffer> => {
    const before = await readFile(file);
    if (before.length === 0) throw new RangeError(`cannot tamper with ${file}: it is empty`);
    const at = Math.max(0, Math.min(before.length - 1, params.byte ?? Math.floor((params.fraction ?? 0.5) * before.length)));
    const changed = Buffer.from(before);
    changed[at]! ^= 1 << ((params.bit ?? 0) & 7);
    await rewrite(file, changed);
    return before;
  };
  return damage(
    file,
    async () => {
      const original = await flip();
      return async () => {
        // Not worth repairing (the owner is removing the directory): writing there would race it.
        if (options.restoreIf !== undefined && !options.restoreIf()) return;
        try {
          await rewrite(file, original);
        } catch (err) {
          // Gone (the manager unloaded the image, maybe while this ran): nothing is left to put right.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      };
    },
    async () => {
      await flip();
    },
  );
}

let replacements = 0;

/**
 * Rewrites `file` with `bytes`, same mode: in place when it can (no new directory entry appears
 * under a manager that may be removing the directory), else — an exec image that is running
 * cannot be opened for writing (ETXTBSY) — by writing a sibling and renaming it over the file, so
 * the running process keeps the file it was started from, as if an attacker had swapped it.
 */
async function rewrite(file: string, bytes: Uint8Array): Promise<void> {
  const { mode } = await stat(file);
  try {
    await chmod(file, mode | 0o200);
    try {
      await writeFile(file, bytes);
      return;
    } finally {
      await chmod(file, mode & 0o7777);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ETXTBSY') throw err;
  }
  const sibling = `${file}.umdkit-fault-${process.pid}-${++replacements}`;
  try {
    await writeFile(sibling, bytes, { mode: 0o600 });
    await chmod(sibling, mode & 0o7777);
    await rename(sibling, file);
  } catch (err) {
    await rm(sibling, { force: true });
    throw err;
  }
}

/**
 * Makes `dir` unwritable — nothing can be created in or removed from it — and returns the undo.
 * `chmod 0500` is enough for an ordinary user; root writes through any mode, so as root the
 * directory is also made immutable (`chattr +i`). Rejects, changing nothing, if the directory
 * stays writable (no `chattr`, or a filesystem without the immutable flag).
 *
 * @example
 * ```ts
 * const heal = await makeUnwritable(extractionRoot);
 * await expect(createManager({ children: [driver], runtimeDir: extractionRoot })).rejects.toMatchObject({ code: 'GAVE_UP' });
 * await heal();
 * ```
 */
export function makeUnwritable(dir: string): Promise<Heal> {
  return damage(dir, () => lock(dir), async () => {});
}

async function lock(dir: string): Promise<() => Promise<void>> {
  const { mode } = await stat(dir);
  await chmod(dir, 0o500);
  let immutable = false;
  if (process.getuid?.() === 0) {
    try {
      await run('chattr', ['+i', dir]);
      immutable = true;
    } catch (err) {
      await chmod(dir, mode & 0o7777);
      throw new Error(`cannot make ${dir} unwritable: root writes through any mode, and chattr +i failed (${(err as Error).message.split('\n')[0]})`, { cause: err });
    }
  }
  const unlock = async () => {
    if (immutable) await run('chattr', ['-i', dir]);
    await chmod(dir, mode & 0o7777);
  };
  // Prove it: a fault that silently did nothing would make its test pass for the wrong reason.
  const probe = join(dir, `.umdkit-probe-${process.pid}`);
  if (await mkdir(probe).then(() => true, () => false)) {
    await rmdir(probe);
    await unlock();
    throw new Error(`cannot make ${dir} unwritable on this host: a directory could still be created in it`);
  }
  return unlock;
}
