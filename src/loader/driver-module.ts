import type { Image } from './image.js';

/**
 * The text of a driver module, as `umdkit pack` writes it: the image bytes embedded as base64 with
 * their sha256, and no imports at all, so the module works from any directory (it is usually
 * committed or shipped next to the service that imports it).
 *
 * @example
 * ```ts
 * const text = driverModule('parser', { kind: 'node', bytes, sha256: sha256Hex(bytes) });
 * await writeFile('parser.driver.mjs', text);
 * // elsewhere: import parser from './parser.driver.mjs'; defineDriver({ ...parser, concurrency: 4 });
 * ```
 */
export function driverModule(name: string, image: Image): string {
  const base64 = Buffer.from(image.bytes.buffer, image.bytes.byteOffset, image.bytes.byteLength).toString('base64');
  const signature = image.signature === undefined ? '' : `, signature: ${JSON.stringify(image.signature)}`;
  const format = image.format === undefined ? '' : `, format: ${JSON.stringify(image.format)}`;
  return `// Written by \`umdkit pack\`: driver ${JSON.stringify(name)}, its ${image.kind} image embedded.
// Do not edit: the loader refuses bytes that do not match the sha256 below.
const decoded = Buffer.from(${JSON.stringify(base64)}, 'base64');
const bytes = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);

/** The handler image: pass it to \`defineDriver\` as \`image\`. */
export const image = Object.freeze({ kind: ${JSON.stringify(image.kind)}, bytes, sha256: ${JSON.stringify(image.sha256)}${signature}${format} });

/** The driver: \`defineDriver({ ...driver, concurrency: 4 })\`. */
export default Object.freeze({ name: ${JSON.stringify(name)}, image });
`;
}
