import { sign as signBytes, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, extname, relative, resolve, sep } from 'node:path';
import { knownKeys, oneOf, plainObject } from '../util/options.js';
import { bundleHandler } from './bundle.js';
import { driverDeclarations, driverModule, type HandlerTypesSource } from './driver-module.js';
import { driverName } from './driver-name.js';
import { sha256Hex, type Image, type ImageFormat } from './image.js';

/**
 * `umdkit pack` as a function: turn a handler into a driver module with its image embedded.
 */

/**
 * Options of {@link pack}.
 *
 * @example
 * ```ts
 * const node: PackOptions = { entry: 'src/parser.ts', name: 'parser', out: 'parser.driver.mjs' };
 * const exec: PackOptions = { kind: 'exec', binary: 'build/c-handler', name: 'c-handler', out: 'c-handler.driver.mjs' };
 * ```
 */
export interface PackOptions {
  /** Driver name (file name and argv[0] of the handler). */
  name: string;
  /** `node` (default): bundle `entry`. `exec`: wrap the executable `binary` as it is. */
  kind?: Image['kind'];
  /** The handler's entry file (node images); it imports `serve` from `umdkit/handler`. */
  entry?: string;
  /** An existing executable (exec images), e.g. a compiled C handler. */
  binary?: string;
  /**
   * Where to write the driver module (`.mjs`), and beside it its declarations (`.d.mts`) typed by the
   * handler's methods; nothing is written without it.
   */
  out?: string;
  /** An ed25519 private key (KeyObject or PEM) to sign the image with; the signature is embedded. */
  sign?: KeyObject | string;
}

/**
 * What {@link pack} produced.
 *
 * @example
 * ```ts
 * const { image, module } = await pack({ entry: 'src/parser.ts', name: 'parser' });
 * const driver = defineDriver({ name: 'parser', image }); // no module file needed in-process
 * ```
 */
export interface Packed {
  name: string;
  image: Image;
  /** The image bytes (same as `image.bytes`). */
  bytes: Uint8Array;
  /** Lower-case hex sha256 of `bytes`. */
  sha256: string;
  /** Text of the driver module. */
  module: string;
  /** Absolute path the module was written to, when `out` was given. */
  out?: string;
  /** What looks wrong but did not stop the pack (a node entry that never uses `serve()`). */
  warnings: string[];
  /**
   * The declarations written beside `out` (when given): their path, text, and where the method
   * types come from (`undefined`: untyped, the handler names no methods).
   */
  types?: { out: string; text: string; from: HandlerTypesSource['from'] | undefined };
}

/**
 * Bundles a node handler (or wraps an executable) into an image, pins its sha256, and renders the
 * driver module: no imports, `export default { name, image }` and `export const image`. The same
 * sources give the same bytes, wherever they lie. Bad options throw `TypeError`/`RangeError`
 * naming the option; a failed bundle rejects with esbuild's messages. A node entry that never
 * calls `serve()` is packed with a warning in `warnings` (its start would fail).
 *
 * @example
 * ```ts
 * const packed = await pack({ entry: 'src/parser.handler.ts', name: 'parser', out: 'parser.driver.mjs' });
 * console.log(packed.sha256);
 * // later, in the service:
 * import parser from './parser.driver.mjs';
 * const driver = defineDriver({ ...parser, concurrency: 4 });
 * ```
 */
export async function pack(options: PackOptions): Promise<Packed> {
  const o = plainObject('options', options);
  knownKeys('options', o, ['name', 'kind', 'entry', 'binary', 'out', 'sign']);
  const name = driverName('options.name', o.name);
  const kind = o.kind === undefined ? 'node' : oneOf('options.kind', o.kind, ['node', 'exec'] as const);
  const out = o.out === undefined ? undefined : resolve(path('options.out', o.out));

  let bytes: Uint8Array;
  let format: ImageFormat | undefined;
  const warnings: string[] = [];
  let entry: string | undefined;
  if (kind === 'node') {
    if (o.binary !== undefined) throw new TypeError('options.binary is for exec images; a node image is bundled from options.entry');
    entry = resolve(path('options.entry', o.entry));
    let callsServe: boolean;
    try {
      ({ bytes, format, callsServe } = await bundleHandler(entry));
    } catch (cause) {
      throw new Error(`cannot bundle the handler entry ${entry}: ${(cause as Error).message}`, { cause });
    }
    if (!callsServe) {
      warnings.push(`the handler entry ${entry} never calls serve() from 'umdkit/handler': its process will not say hello, ` +
        'and what it prints goes to stdout, where the manager reads frames (the start will fail)');
    }
  } else {
    if (o.entry !== undefined) throw new TypeError('options.entry is for node images; an exec image wraps options.binary');
    bytes = await readExecutable(resolve(path('options.binary', o.binary)));
  }

  const sha256 = sha256Hex(bytes);
  const signature = o.sign === undefined ? undefined : signImage(bytes, o.sign);
  const image: Image = {
    kind,
    bytes,
    sha256,
    ...(signature === undefined ? {} : { signature }),
    ...(format === undefined ? {} : { format }),
  };
  const module = driverModule(name, image);
  if (out === undefined) return { name, image, bytes, sha256, module, warnings };
  const typesOut = declarationsPath(out);
  const source = entry === undefined ? undefined : await handlerTypes(entry, dirname(typesOut));
  const types = { out: typesOut, text: driverDeclarations(name, source), from: source?.from };
  await writeAtomically(out, module);
  await writeAtomically(typesOut, types.text);
  return { name, image, bytes, sha256, module, out, types, warnings };
}

/** TypeScript looks for `x.d.mts` beside `x.mjs` (`x.d.ts` beside `x.js`, `x.d.cts` beside `x.cjs`). */
function declarationsPath(out: string): string {
  const ext = extname(out);
  const base = out.slice(0, out.length - ext.length);
  return `${base}${ext === '.js' ? '.d.ts' : ext === '.cjs' ? '.d.cts' : '.d.mts'}`;
}

/** The extension TypeScript resolves to each source extension under `nodenext`. */
const RUNTIME_EXTENSION: Record<string, string> = { '.ts': '.js', '.tsx': '.js', '.mts': '.mjs', '.cts': '.cjs' };

/**
 * Where the handler's method types are, if it says: an exported `Methods` type, else its default
 * export (what `serve()` returned). Only a TypeScript entry is read (a JavaScript one has no types
 * to give). The source is scanned, not compiled: a default export that is not a `serve()` handle
 * still types as untyped (`HandlerModuleApi` checks that by type).
 */
async function handlerTypes(entry: string, from: string): Promise<HandlerTypesSource | undefined> {
  const ext = extname(entry);
  const runtimeExt = RUNTIME_EXTENSION[ext];
  if (runtimeExt === undefined) return undefined;
  const text = stripComments(await readFile(entry, 'utf8'));
  const kind = METHODS_EXPORT.some((re) => re.test(text)) ? 'Methods' : DEFAULT_EXPORT.some((re) => re.test(text)) ? 'default' : undefined;
  if (kind === undefined) return undefined;
  let specifier = relative(from, entry.slice(0, entry.length - ext.length) + runtimeExt).split(sep).join('/');
  if (!specifier.startsWith('../')) specifier = `./${specifier}`;
  return { specifier, from: kind };
}

const METHODS_EXPORT = [/\bexport\s+(?:declare\s+)?(?:type|interface)\s+Methods\b/, /\bexport\s+(?:type\s+)?\{[^}]*\bMethods\s*[,}]/];
const DEFAULT_EXPORT = [/\bexport\s+default\b/, /\bexport\s+(?:type\s+)?\{[^}]*\bas\s+default\s*[,}]/];

/** Comments out of the way of the scan: `// export default ...` is not an export. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

function path(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${option} must be a file path, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
  }
  return value;
}

async function readExecutable(file: string): Promise<Uint8Array> {
  const info = await stat(file);
  if (!info.isFile()) throw new TypeError(`options.binary must be a regular file, got ${JSON.stringify(file)}`);
  if (info.size === 0) throw new RangeError(`options.binary must not be empty, got ${JSON.stringify(file)} of 0 bytes`);
  return new Uint8Array(await readFile(file));
}

function signImage(bytes: Uint8Array, key: unknown): string {
  let privateKey: KeyObject;
  try {
    privateKey = typeof key === 'string' ? createPrivateKey(key) : (key as KeyObject);
  } catch (cause) {
    // OpenSSL's own words (`DECODER routines::unsupported`) say neither what was wrong nor what was wanted.
    throw new TypeError('options.sign must be an ed25519 private key (a KeyObject, or PEM text "-----BEGIN PRIVATE KEY-----..."), got text that does not parse as a private key', { cause });
  }
  if (privateKey?.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`options.sign must be an ed25519 private key, got ${privateKey?.asymmetricKeyType ?? typeof key} ${privateKey?.type ?? ''}`.trimEnd());
  }
  return signBytes(null, bytes, privateKey).toString('base64');
}

/** A reader never sees half a module: write beside it, then rename over it. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, text);
    await rename(temporary, file);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
}
