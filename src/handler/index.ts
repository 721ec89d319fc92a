/// <reference types="node" preserve="true" />
// The public declarations name Node types (streams, signals, key objects): a consumer compiling with
// `types: []` still needs them. @types/node is an optional peer dependency (TypeScript users only).
/**
 * `umdkit/handler`: the runtime inside a Node handler. Bundled into every node image by
 * `umdkit pack`, so it stays small: the protocol codec and `serve`, nothing else.
 *
 * Importing it reserves stdout for frames (console output goes to stderr), so import it before
 * anything that might print.
 *
 * @example
 * ```ts
 * import { serve } from 'umdkit/handler';
 * serve((payload) => ({ echoed: payload }));
 * ```
 */
export { serve } from './serve.js';
export type { Handler, HandlerApi, HandlerContext, HandlerMap, MethodApi, ServeOptions, ServedHandler } from './types.js';
