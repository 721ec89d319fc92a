/** The types a handler author writes against. Kept apart from the runtime so importing them costs nothing. */

/**
 * What a method learns about the request it answers.
 *
 * @example
 * ```ts
 * const slow: Handler = async (payload, { signal }) => {
 *   await setTimeout(1000, undefined, { signal }); // from node:timers/promises; rejects on cancel
 *   return payload;
 * };
 * ```
 */
export interface HandlerContext {
  /** The method the manager asked for (`m` of the request), or undefined when it named none. */
  readonly method: string | undefined;
  /** Aborted when the manager cancels this request (the caller gave up or timed out). */
  readonly signal: AbortSignal;
  /** The wire id of the request (small integer, unique among the requests in flight). */
  readonly id: number;
}

/**
 * One method: gets the payload, returns the answer (or a promise of it). `undefined` is answered
 * as `null`. A throw or rejection becomes an `ok: false` answer with `{ code: err.code ?? 'ERROR',
 * message }`; the handler process lives on.
 *
 * @example
 * ```ts
 * const parse: Handler = (payload) => {
 *   if (!(payload instanceof Uint8Array)) throw Object.assign(new Error('want bytes'), { code: 'EINVAL' });
 *   return { length: payload.length };
 * };
 * ```
 */
export type Handler<Payload = unknown, Answer = unknown> = (payload: Payload, context: HandlerContext) => Answer;

/**
 * Methods by name; a request for a name not in the map is answered `ok: false`, code `ENOSYS`.
 *
 * @example
 * ```ts
 * const methods: HandlerMap = { parse, version: () => '1.0.0' };
 * ```
 */
// `any`, not `unknown`: a method that annotates its payload (`(bytes: Uint8Array) => ...`) must fit,
// and a function is only assignable when its parameter accepts what the map's would. An unannotated
// payload is therefore `any` inside the method; {@link HandlerApi} shows it to callers as `unknown`.
export type HandlerMap = Readonly<Record<string, Handler<any>>>;

/**
 * Options of `serve`.
 *
 * @example
 * ```ts
 * serve(methods, { concurrency: 4, maxFrameBytes: 1 << 20 });
 * ```
 */
export interface ServeOptions {
  /** Requests run at once inside this process; the rest wait in arrival order (default: no limit). */
  concurrency?: number;
  /** Largest frame accepted or sent, in bytes (default 16 MiB; keep it equal to the driver's). */
  maxFrameBytes?: number;
  /** Deepest nesting accepted or sent (default 64; keep it equal to the driver's). */
  maxDepth?: number;
  /** Most data items in one message accepted or sent (default 262144; keep it equal to the driver's). */
  maxItems?: number;
}

/**
 * What `serve` returns: the handle a handler module default-exports so that callers in the parent
 * get its methods as types (`umdkit pack` writes a `.d.mts` that reads them by `import type`;
 * nothing of the handler is imported at run time). At run time it only lists the method names.
 *
 * @example
 * ```ts
 * export default serve({ parse: (bytes: Uint8Array) => ({ length: bytes.length }) });
 * // the parent: manager.request('parser', bytes, { method: 'parse' }) is Promise<{ length: number }>
 * ```
 */
export interface ServedHandler<Api = unknown> {
  /** The method names served, or undefined when one function serves every request. */
  readonly methods: readonly string[] | undefined;
  /** Type only, never present at run time: the methods as callers see them ({@link HandlerApi}). */
  readonly '~api'?: Api;
}

/** `any` (a payload the method did not annotate, an answer nobody typed) is `unknown` to callers. */
type NoAny<T> = 0 extends 1 & T ? unknown : T;

/** One method as callers see it: `(payload) => answer`, the promise of an async method unwrapped. */
export type MethodApi<F> = F extends (payload: infer P, ...rest: any[]) => infer A ? (payload: NoAny<P>) => NoAny<Awaited<A>> : never;

/**
 * A handler's methods as callers see them: for a map, `{ name: (payload) => answer }`; for one
 * function, `(payload) => answer`. Also normalises a hand-written `Methods` type (method syntax,
 * promises) to the same shape.
 *
 * @example
 * ```ts
 * type Api = HandlerApi<{ parse: (bytes: Uint8Array, context: HandlerContext) => Promise<number> }>;
 * // { readonly parse: (payload: Uint8Array) => number }
 * ```
 */
export type HandlerApi<H> = H extends (...args: any[]) => unknown
  ? MethodApi<H>
  : { readonly [K in keyof H & string]: MethodApi<H[K]> };
