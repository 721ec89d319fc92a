import { createHash } from 'node:crypto';
import { oneOf } from '../util/options.js';

/**
 * An image: the one self-contained file a handler runs from, and its pinned digest.
 *
 * - `node`: one bundled JavaScript file carrying the handler runtime and cbor-x inside it, run by
 *   the current Node binary; an ES module unless `format` says `cjs`.
 * - `exec`: a static executable in any language, run directly.
 *
 * @example
 * ```ts
 * const bytes = await readFile('handler.mjs');
 * const image: Image = { kind: 'node', bytes, sha256: sha256Hex(bytes) };
 * ```
 */
export interface Image {
  kind: 'node' | 'exec';
  /** The exact bytes that are written to disk and executed. */
  bytes: Uint8Array;
  /** Lower-case hex sha256 of `bytes`, pinned when the image was packed. */
  sha256: string;
  /** Optional base64 ed25519 signature over `bytes`. */
  signature?: string;
  /**
   * Node images only: how Node loads the file, `esm` (default, written as `<name>.mjs`) or `cjs`
   * (`<name>.cjs`). `umdkit pack` writes `cjs` whenever the handler allows it: a CommonJS file
   * skips the ES module loader's start-up, about 3 ms of every (re)start.
   */
  format?: ImageFormat;
}

/** How Node loads a node image: {@link Image.format}. */
export type ImageFormat = 'esm' | 'cjs';

/** The formats a node image may have. */
export const IMAGE_FORMATS = ['esm', 'cjs'] as const satisfies readonly ImageFormat[];

/**
 * The file name an image is extracted as: `<name>.mjs` or `<name>.cjs` for node images (the
 * extension tells Node the module format), `<name>` for exec images.
 *
 * @example
 * ```ts
 * imageFileName('parser', { kind: 'node', format: 'cjs' }); // 'parser.cjs'
 * ```
 */
export function imageFileName(name: string, image: Pick<Image, 'kind' | 'format'>): string {
  if (image.kind !== 'node') return name;
  return image.format === 'cjs' ? `${name}.cjs` : `${name}.mjs`;
}

/**
 * Lower-case hex sha256 of `bytes`.
 *
 * @example
 * ```ts
 * sha256Hex(new TextEncoder().encode('abc')); // 'ba7816bf...'
 * ```
 */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * `format` belongs to node images only and is one of {@link IMAGE_FORMATS}.
 *
 * @example
 * ```ts
 * checkFormat('options.image', { kind: 'exec', format: 'cjs' }); // TypeError: options.image.format is for node images only, got "cjs" on an exec image
 * ```
 */
export function checkFormat(path: string, image: Record<string, unknown>): void {
  if (image.format === undefined) return;
  if (image.kind !== 'node') throw new TypeError(`${path}.format is for node images only, got ${JSON.stringify(image.format)} on an ${String(image.kind)} image`);
  oneOf(`${path}.format`, image.format, IMAGE_FORMATS);
}
