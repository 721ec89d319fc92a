/**
 * esbuild, loaded only when something is bundled: packing a node handler, or importing a
 * TypeScript config file. A service that runs drivers packed beforehand never bundles, so umdkit
 * declares esbuild as an optional peer dependency (12 MB of native binary a production install
 * can leave out), and its absence is reported here, naming the package and the fix.
 */

/** What `import('esbuild')` gives. */
export type Esbuild = typeof import('esbuild');

/**
 * Imports esbuild for `purpose`; rejects with an Error naming the missing package and how to add
 * it when it is not installed.
 *
 * @example
 * ```ts
 * const { build } = await loadEsbuild('packing a node handler');
 * ```
 */
export async function loadEsbuild(purpose: string): Promise<Esbuild> {
  try {
    return await import('esbuild');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' || !/['"]esbuild['"]/.test((err as Error).message)) throw err;
    throw new Error(
      `${purpose} needs the package "esbuild", which is not installed; umdkit declares it as an optional peer dependency (a service that only runs packed drivers never needs it): add it with \`npm install --save-dev esbuild\``,
      { cause: err },
    );
  }
}
