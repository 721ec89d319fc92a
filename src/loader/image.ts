import { createHash } from 'node:crypto';

/**
 * An image: the one self-contained file a handler runs from, and its pinned digest.
 *
 * - `node`: a bundled ES module carrying the handler runtime and cbor-x inside it, run by the
 *   current Node binary.
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
