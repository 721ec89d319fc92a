import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions, BuildResult, Message, Plugin } from 'esbuild';
import { loadEsbuild } from '../util/esbuild.js';
import type { ImageFormat } from './image.js';

/**
 * Bundles a TypeScript/JavaScript handler entry into one self-contained file: the handler runtime
 * (`umdkit/handler`) and cbor-x inside it, nothing resolved at run time but Node builtins.
 *
 * Determinism: the bytes depend only on the sources, never on where they lie (the digest is the
 * image's identity). esbuild marks each module with a `// path` comment relative to its working
 * directory, so the entry is built from its own directory (paths relative to the entry stay the
 * same wherever the source tree is copied), and the runtime is bundled separately from this
 * package's root and then inlined as one virtual module, `umdkit:handler`.
 */

const RUNTIME_SPECIFIER = /^umdkit\/handler$/;
const RUNTIME_NAMESPACE = 'umdkit';

const here = dirname(fileURLToPath(import.meta.url));
const requireHere = createRequire(import.meta.url);

/** Settings both builds share; `tsconfigRaw` keeps a tsconfig.json near the sources from changing the output. */
const COMMON: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  write: false,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'silent',
  tsconfigRaw: { compilerOptions: { useDefineForClassFields: true } },
};

/**
 * cbor-x's `node` build loads the native `cbor-extract` addon with a runtime `require`, which a
 * bundle cannot carry; its plain JavaScript build (`index.js`) is the same codec without it.
 */
const plainCborX: Plugin = {
  name: 'umdkit-plain-cbor-x',
  setup(b) {
    b.onResolve({ filter: /^cbor-x(\/decode)?$/ }, () => ({ path: join(dirname(requireHere.resolve('cbor-x/package.json')), 'index.js') }));
  },
};

let runtime: Promise<string> | undefined;

/**
 * The handler runtime bundled on its own (memoised: every pack in a process reuses it).
 *
 * @example
 * ```ts
 * const js = await bundleRuntime(); // ES module text exporting `serve`
 * ```
 */
export function bundleRuntime(): Promise<string> {
  runtime ??= (async () => {
    const source = runtimeSource();
    const { build } = await loadEsbuild('packing a node handler');
    const result = await build({ ...COMMON, entryPoints: [source], absWorkingDir: packageRoot(source), plugins: [plainCborX] });
    return result.outputFiles![0]!.text;
  })();
  // A failed build must not be remembered: the next pack tries again.
  runtime.catch(() => {
    runtime = undefined;
  });
  return runtime;
}

/**
 * Bundles `entry` (an absolute path) into one file; `umdkit/handler` resolves to the runtime.
 * CommonJS when the handler allows it (Node starts a `.cjs` file about 3 ms sooner than an ES
 * module: no module loader to set up, and every restart pays it), an ES module when it needs one:
 * top-level `await`, or `import.meta`, which CommonJS output would leave empty without failing.
 * `callsServe` is false when the bundle holds none of the runtime (see {@link usesRuntime}).
 * Rejects with esbuild's own error (it lists every problem with file and line).
 *
 * @example
 * ```ts
 * const { bytes, format, callsServe } = await bundleHandler(resolve('src/parser.handler.ts')); // format 'cjs', callsServe true
 * ```
 */
export async function bundleHandler(entry: string): Promise<{ bytes: Uint8Array; format: ImageFormat; callsServe: boolean }> {
  const runtimeText = await bundleRuntime();
  const { build } = await loadEsbuild('packing a node handler');
  const runtimePlugin: Plugin = {
    name: 'umdkit-handler-runtime',
    setup(b) {
      b.onResolve({ filter: RUNTIME_SPECIFIER }, () => ({ path: 'handler', namespace: RUNTIME_NAMESPACE }));
      b.onLoad({ filter: /.*/, namespace: RUNTIME_NAMESPACE }, () => ({ contents: runtimeText, loader: 'js' }));
    },
  };
  const options: BuildOptions = { ...COMMON, entryPoints: [entry], absWorkingDir: dirname(entry), plugins: [runtimePlugin, plainCborX], metafile: true };
  const commonjs = await build({ ...options, format: 'cjs' }).catch((err: unknown) => {
    if (needsModule(err)) return undefined;
    throw err;
  });
  if (commonjs !== undefined && !commonjs.warnings.some(isEmptyImportMeta)) {
    return { bytes: commonjs.outputFiles![0]!.contents, format: 'cjs', callsServe: usesRuntime(commonjs) };
  }
  const module = await build(options);
  return { bytes: module.outputFiles![0]!.contents, format: 'esm', callsServe: usesRuntime(module) };
}

/**
 * Whether any of the runtime made it into the bundle. esbuild drops an import nothing uses, so an
 * entry that never imports `serve`, or imports it and never uses it, bundles without it: such a
 * handler never says hello, and its `console.log` lands on stdout, where the manager reads frames.
 */
function usesRuntime(result: BuildResult): boolean {
  const outputs = Object.values(result.metafile?.outputs ?? {});
  return outputs.some((output) => (output.inputs[`${RUNTIME_NAMESPACE}:handler`]?.bytesInOutput ?? 0) > 0);
}

/** esbuild's refusal of top-level `await` in CommonJS output: the one error an ES module fixes. */
function needsModule(err: unknown): boolean {
  const errors = (err as { errors?: Message[] })?.errors;
  return Array.isArray(errors) && errors.length > 0 && errors.every((e) => /top-level await/i.test(e.text));
}

/** `import.meta` compiled to CommonJS is an empty object: the handler would run, but wrongly. */
function isEmptyImportMeta(warning: Message): boolean {
  return warning.id === 'empty-import-meta' || /import\.meta/.test(warning.text);
}

/**
 * This package's handler runtime: the TypeScript source when running from source, the compiled
 * file when running from `dist/` (this file is then `dist/src/loader/bundle.js`).
 */
function runtimeSource(): string {
  for (const candidate of [join(here, '..', 'handler', 'index.ts'), join(here, '..', 'handler', 'index.js')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`the umdkit handler runtime is missing next to ${here} (looked for ../handler/index.ts and ../handler/index.js)`);
}

/** The nearest directory above `file` holding a package.json: the runtime's paths are written relative to it. */
function packageRoot(file: string): string {
  let dir = dirname(file);
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return dirname(file);
    dir = parent;
  }
  return dir;
}
