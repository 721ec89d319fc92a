import { rm, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { nanoid } from 'nanoid';
import { loadEsbuild } from '../util/esbuild.js';

/**
 * Evaluates a config module. JavaScript (`.mjs`, `.js`, `.cjs`) is imported as it is. TypeScript
 * (`.ts`, `.mts`, `.cts`) is bundled by esbuild first: its relative imports (packed driver modules,
 * helpers) are bundled in, package imports (`umdkit` itself...) stay imports. The bundle is written
 * next to the config — so those package imports resolve exactly as they would from the config —
 * imported, and removed again whatever happens (the way Vite loads `vite.config.ts`).
 */

/**
 * Extensions a config may have.
 *
 * @example
 * ```ts
 * if (!CONFIG_EXTENSIONS.includes(extname(file) as never)) throw new TypeError(`not a config: ${file}`);
 * ```
 */
export const CONFIG_EXTENSIONS = ['.mjs', '.js', '.cjs', '.ts', '.mts', '.cts'] as const;

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);

/**
 * Imports the config module at the absolute path `file` and returns its namespace.
 *
 * @example
 * ```ts
 * const namespace = await importConfigModule('/srv/app/umdkit.config.ts');
 * const options = namespace.default;
 * ```
 */
export async function importConfigModule(file: string): Promise<Record<string, unknown>> {
  if (!TYPESCRIPT.has(extname(file))) return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const { build } = await loadEsbuild(`importing the TypeScript config file ${file}`);
  const result = await build({
    entryPoints: [file],
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    absWorkingDir: dirname(file),
  });
  // A name no other load uses: the module cache is keyed by it, and two loads must not collide.
  const bundled = join(dirname(file), `.${basename(file)}.${process.pid}-${nanoid(8)}.mjs`);
  await writeFile(bundled, result.outputFiles![0]!.contents, { mode: 0o600, flag: 'wx' });
  try {
    return (await import(pathToFileURL(bundled).href)) as Record<string, unknown>;
  } finally {
    await rm(bundled, { force: true });
  }
}
