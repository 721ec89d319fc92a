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
export type Handler = (payload: unknown, context: HandlerContext) => unknown;

/**
 * Methods by name; a request for a name not in the map is answered `ok: false`, code `ENOSYS`.
 *
 * @example
 * ```ts
 * const methods: HandlerMap = { parse, version: () => '1.0.0' };
 * ```
 */
export type HandlerMap = Readonly<Record<string, Handler>>;

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
