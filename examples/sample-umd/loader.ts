/**
 * The Loader (the kernel's sample_loader.c): hands out the handler image embedded at build time.
 * `npm run build` packs handler.ts into `sample.driver.mjs` next to this file (in dist/), and the
 * C handler, when a compiler was there, into `../c-handler/sample.driver.mjs` as an exec image.
 * Extraction, verification and unloading are umdkit's: the Manager asks for them.
 */
import { readFile } from 'node:fs/promises';
import type { Image } from 'umdkit';

/**
 * Which handler: the TypeScript one (a node image) or the C one (an exec image).
 *
 * @example
 * ```ts
 * const kind: SampleHandlerKind = process.argv.includes('--c') ? 'c' : 'node';
 * ```
 */
export type SampleHandlerKind = 'node' | 'c';

/**
 * A packed driver module's default export.
 *
 * @example
 * ```ts
 * const { name, image }: PackedDriver = await loadSampleDriver('node');
 * ```
 */
export interface PackedDriver {
  name: string;
  image: Image;
}

/**
 * Where the build puts each embedded image, relative to this file (both live in dist/examples/).
 *
 * @example
 * ```ts
 * existsSync(SAMPLE_IMAGES.c.module); // false when the build had no C compiler
 * ```
 */
export const SAMPLE_IMAGES: Readonly<Record<SampleHandlerKind, { module: URL; notBuilt: URL }>> = Object.freeze({
  node: { module: new URL('./sample.driver.mjs', import.meta.url), notBuilt: new URL('./NOT-BUILT.txt', import.meta.url) },
  c: { module: new URL('../c-handler/sample.driver.mjs', import.meta.url), notBuilt: new URL('../c-handler/NOT-BUILT.txt', import.meta.url) },
});

/**
 * The embedded image of one handler is missing: the message says why and what to do.
 *
 * @example
 * ```ts
 * try { await loadSampleDriver('c'); } catch (err) { if (err instanceof SampleImageMissing) console.error(err.message); }
 * ```
 */
export class SampleImageMissing extends Error {
  override readonly name = 'SampleImageMissing';
  constructor(readonly kind: SampleHandlerKind, readonly reason: string) {
    super(`the ${kind === 'c' ? 'C' : 'node'} handler image was not built: ${reason}`);
  }
}

/**
 * The embedded driver `{ name, image }` of the `node` or `c` handler, as the build packed it.
 * Rejects with {@link SampleImageMissing} (saying why, e.g. no C compiler at build time) when
 * the build did not produce it.
 *
 * @example
 * ```ts
 * const sample = await SampleManager.start({ image: (await loadSampleDriver('c')).image });
 * ```
 */
export async function loadSampleDriver(kind: SampleHandlerKind): Promise<PackedDriver> {
  const where = SAMPLE_IMAGES[kind];
  let module: { default?: Partial<PackedDriver> };
  try {
    module = (await import(where.module.href)) as { default?: Partial<PackedDriver> };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    const recorded = await readFile(where.notBuilt, 'utf8').catch(() => undefined);
    throw new SampleImageMissing(kind, recorded?.trim() ?? `${where.module.pathname} is missing; run \`npm run build\` (it packs the sample images)`);
  }
  const driver = module.default;
  if (driver?.image === undefined || typeof driver.name !== 'string') {
    throw new TypeError(`${where.module.pathname} must export default { name, image } (a module written by \`umdkit pack\`)`);
  }
  return { name: driver.name, image: driver.image };
}
