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

/**
 * Where the handler's method types come from, for {@link driverDeclarations}: the module specifier
 * of the handler entry relative to the declarations, and which of its exports describes them.
 */
export interface HandlerTypesSource {
  /** e.g. `'../src/parser.handler.js'`: relative, with the extension TypeScript resolves to the source. */
  specifier: string;
  /** `Methods`: an exported `Methods` type; `default`: the default export, what `serve()` returned. */
  from: 'Methods' | 'default';
}

/**
 * The text of the `.d.mts` written beside a driver module: its default export typed with the
 * driver's name and, when the handler says what its methods are, those methods, read by
 * `import type` from the handler's own source (types only: nothing of the handler is imported at run
 * time, and the module itself stays import-free). Without a source the driver is untyped.
 *
 * @example
 * ```ts
 * await writeFile('parser.driver.d.mts', driverDeclarations('parser', { specifier: './parser.js', from: 'default' }));
 * ```
 */
export function driverDeclarations(name: string, source: HandlerTypesSource | undefined): string {
  const quoted = JSON.stringify(name);
  let lines: string[];
  if (source === undefined) {
    lines = [
      `// Written by \`umdkit pack\`: the types of driver ${quoted}. Untyped: its handler names no methods`,
      '// (default-export what `serve()` returns, or export a `Methods` type, to type them).',
      "import type { DriverModule, Image } from 'umdkit';",
      '',
      `type Api = unknown;`,
    ];
  } else if (source.from === 'Methods') {
    lines = [
      `// Written by \`umdkit pack\`: the types of driver ${quoted}, its methods from the handler's \`Methods\` type.`,
      "import type { DriverModule, Image } from 'umdkit';",
      `import type { Methods } from ${JSON.stringify(source.specifier)};`,
      '',
      'type Api = Methods;',
    ];
  } else {
    lines = [
      `// Written by \`umdkit pack\`: the types of driver ${quoted}, its methods from what the handler's \`serve()\` returned.`,
      "import type { DriverModule, HandlerModuleApi, Image } from 'umdkit';",
      `import type * as handler from ${JSON.stringify(source.specifier)};`,
      '',
      'type Api = HandlerModuleApi<typeof handler>;',
    ];
  }
  return `${lines.join('\n')}

/** The handler image: pass it to \`defineDriver\` as \`image\`. */
export declare const image: Image;

/** The driver: \`defineDriver({ ...driver, concurrency: 4 })\`. */
declare const driver: DriverModule<${quoted}, Api>;
export default driver;
`;
}
