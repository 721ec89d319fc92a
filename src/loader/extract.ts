import type { KeyObject } from 'node:crypto';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UmdError } from '../errors.js';
import { matching, oneOf, plainObject } from '../util/options.js';
import { driverName } from './driver-name.js';
import { checkFormat, imageFileName, sha256Hex, type Image } from './image.js';
import { privateDirName } from './private-dir.js';
import { runtimeRoot } from './runtime-dir.js';
import { sealedCopy, type SealedCopy } from './sealed-copy.js';
import { requireSignature, trustedKeys, type PublicKeyInput } from './signature.js';

/**
 * The kernel's `umd_load_blob`: write an embedded image to a private directory, ready to run.
 *
 * The digest is checked on the bytes in memory before anything is written (a wrong pin never
 * reaches the disk). Handlers never run the extracted file: every spawn runs a fresh unnamed copy
 * of the verified bytes, hashed through the descriptor the handler receives (`seal`, see
 * sealed-copy.ts). The extracted file stays as a tripwire: `verify` re-hashes it before every
 * spawn, so a changed file is reported (`INTEGRITY`) even though it could not have run.
 */

/**
 * An image written to its private directory.
 *
 * @example
 * ```ts
 * const loaded: LoadedImage = await loadImage('parser', image);
 * console.log(loaded.dir, loaded.file); // .../umdkit/umdkit-4242-V1StGXR8.../parser.mjs
 * ```
 */
export interface LoadedImage {
  /** Driver name; also the file name (with `.mjs` or `.cjs` for node images). */
  readonly name: string;
  /** The private directory (mode 0700), `umdkit-<parentPid>-<nanoid>`; the handler's cwd. */
  readonly dir: string;
  /** The image file (mode 0500) inside `dir`. */
  readonly file: string;
  readonly image: Image;
  /**
   * Re-reads the file and checks its sha256; rejects with `INTEGRITY` (expected/actual) on a
   * mismatch. When loaded with `publicKeys`, also checks the signature over the same bytes.
   */
  verify(): Promise<void>;
  /**
   * A fresh unnamed copy of the verified bytes for one spawn: a read-only descriptor, hashed through
   * itself (`INTEGRITY` on a mismatch). The spawn passes it as the handler's fd 3 and closes it.
   */
  seal(): Promise<SealedCopy>;
  /** Removes the directory. Idempotent. */
  unload(): Promise<void>;
}

/**
 * Options of {@link loadImage}.
 *
 * @example
 * ```ts
 * await loadImage('parser', image, { root: '/run/my-service/handlers' });
 * ```
 */
export interface LoadOptions {
  /** Extraction root (default: chosen by `runtimeRoot` for the image's kind). */
  root?: string;
  /**
   * Require an ed25519 signature by one of these public keys (`KeyObject`s or PEM text): an
   * unsigned image, or one none of them signed, is refused with `INTEGRITY` at load (nothing is
   * written) and at every `verify()` (on the bytes on disk).
   */
  publicKeys?: readonly PublicKeyInput[];
}

const SHA256 = /^[0-9a-f]{64}$/;

// Loading and sweeping are two halves of one job (nothing left behind); callers find both here.
export { sweepStale } from './sweep.js';

/**
 * Checks `image` against its pinned sha256, then writes it to a fresh private directory: opened,
 * written, fsynced and closed before anything can exec it (no ETXTBSY). Rejects with `INTEGRITY`
 * when the bytes do not match the pin, or (with `publicKeys`) carry no signature by a trusted key
 * (nothing is written), `SPAWN` when the file cannot be written.
 *
 * @example
 * ```ts
 * const loaded = await loadImage('parser', driver.image);
 * await loaded.verify();   // before each spawn
 * await loaded.unload();   // when the driver stops
 * ```
 */
export async function loadImage(name: string, image: Image, options: LoadOptions = {}): Promise<LoadedImage> {
  driverName('name', name);
  checkImage(image);
  const keys = options.publicKeys === undefined ? undefined : trustedKeys('options.publicKeys', options.publicKeys);
  // A private copy: what was verified cannot change behind our back if the caller reuses its array.
  const bytes = new Uint8Array(image.bytes);
  const actual = sha256Hex(bytes);
  if (actual !== image.sha256) {
    throw new UmdError('INTEGRITY', `image of driver "${name}" does not match its pinned sha256: expected ${image.sha256}, got ${actual}`, {
      driver: name,
      expected: image.sha256,
      actual,
    });
  }
  if (keys !== undefined) requireSignature(name, bytes, image.signature, keys, 'image');
  const root = await runtimeRoot({ kind: image.kind, ...(options.root === undefined ? {} : { root: options.root }) });
  const dir = join(root, privateDirName());
  const file = join(dir, imageFileName(name, image));
  try {
    await mkdir(dir, { mode: 0o700 });
    await writeClosed(file, bytes);
  } catch (cause) {
    await rm(dir, { recursive: true, force: true });
    throw new UmdError('SPAWN', `cannot extract the image of driver "${name}" to ${dir}: ${(cause as Error).message}`, { driver: name }, { cause });
  }
  return new Extracted(name, dir, file, image, bytes, keys);
}

class Extracted implements LoadedImage {
  private removal: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly dir: string,
    readonly file: string,
    readonly image: Image,
    private readonly bytes: Uint8Array,
    private readonly keys: readonly KeyObject[] | undefined = undefined,
  ) {}

  async verify(): Promise<void> {
    if (this.removal !== undefined) {
      throw new UmdError('SPAWN', `the image of driver "${this.name}" was unloaded; load it again`, { driver: this.name });
    }
    let actual: string;
    let bytes: Uint8Array | undefined;
    try {
      bytes = await readFile(this.file);
      actual = sha256Hex(bytes);
    } catch (err) {
      actual = `unreadable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
    if (actual !== this.image.sha256) {
      throw new UmdError(
        'INTEGRITY',
        `extracted image of driver "${this.name}" at ${this.file} changed on disk: expected sha256 ${this.image.sha256}, got ${actual}`,
        { driver: this.name, expected: this.image.sha256, actual },
      );
    }
    // The same bytes the digest covered: what is checked is what runs.
    if (this.keys !== undefined && bytes !== undefined) {
      requireSignature(this.name, bytes, this.image.signature, this.keys, `extracted image at ${this.file}`);
    }
  }

  seal(): Promise<SealedCopy> {
    if (this.removal !== undefined) {
      return Promise.reject(new UmdError('SPAWN', `the image of driver "${this.name}" was unloaded; load it again`, { driver: this.name }));
    }
    return sealedCopy(this.dir, this.bytes, this.image.sha256, this.image.kind, this.name);
  }

  unload(): Promise<void> {
    // A failed removal (say the root was made unwritable) is not remembered: the next unload retries.
    this.removal ??= rm(this.dir, { recursive: true, force: true }).catch((err: unknown) => {
      this.removal = undefined;
      throw err;
    });
    return this.removal;
  }
}

/** Writes `bytes` to a new file of mode 0500 and closes it; fsync so a crash never leaves half an image. */
async function writeClosed(file: string, bytes: Uint8Array): Promise<void> {
  // 'wx': the file must be new (the directory is fresh, so anything already there is an attack).
  const handle = await open(file, 'wx', 0o500);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.chmod(0o500); // the umask may have taken bits off the mode given to open
  } finally {
    await handle.close();
  }
}

function checkImage(value: unknown): asserts value is Image {
  const image = plainObject('image', value);
  oneOf('image.kind', image.kind, ['node', 'exec'] as const);
  if (!(image.bytes instanceof Uint8Array)) throw new TypeError(`image.bytes must be a Uint8Array, got ${typeof image.bytes}`);
  if (image.bytes.length === 0) throw new RangeError('image.bytes must not be empty, got 0 bytes');
  matching('image.sha256', image.sha256, SHA256, 'a lower-case hex sha256 (64 characters)');
  checkFormat('image', image);
}
