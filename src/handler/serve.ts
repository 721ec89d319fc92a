import { flushOutput, onOutputError, writeFrame } from './stdout-guard.js';
import {
  FrameDecoder,
  FrameWriter,
  parseManagerMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type HandlerMessage,
  type ManagerMessage,
  type ProtocolLimits,
  type RequestMessage,
} from '../protocol/index.js';
import { positiveInteger, plainObject } from '../util/options.js';
import type { Handler, HandlerApi, HandlerContext, HandlerMap, ServeOptions, ServedHandler } from './types.js';

/** Longest error message sent back; a handler's error text is a diagnosis, not a payload. */
const MAX_ERROR_MESSAGE = 4096;
/** If flushing output hangs (a peer that stopped reading), exit anyway after this long. */
const EXIT_FLUSH_LIMIT_MS = 2000;

let serving = false;

/**
 * Turns this process into a handler: says `hello`, then reads request frames on stdin and answers
 * them on stdout until `bye` (finishes in-flight work, exits 0) or EOF of stdin (exits 0 at once:
 * the manager is gone, nobody would read the answers). Pass one function for every method, or a
 * map of methods. Default-export what it returns and the parent's `manager.request` is typed by
 * these methods: payload types as annotated here, answers as returned (promises unwrapped).
 *
 * - A throw or rejection answers `ok: false` with `{ code: err.code ?? 'ERROR', message }`.
 * - `cancel` aborts the request's `signal`; if the method then rejects, the code is `ABORTED`.
 * - `ping` is answered at once, even while methods are busy.
 * - An answer that cannot be encoded (a Date, a cycle, too large) answers `ok: false` with the
 *   protocol reason as code (`UNENCODABLE`, `FRAME_TOO_LARGE`, `TOO_DEEP`) instead of dying.
 * - A bad frame from the manager writes one line to stderr and exits 2.
 *
 * @example
 * ```ts
 * import { serve } from 'umdkit/handler';
 *
 * export default serve({
 *   parse: (bytes: Uint8Array) => parseUntrusted(bytes),
 *   version: () => '1.0.0',
 * }, { concurrency: 4 });
 * ```
 */
export function serve<F extends Handler<any>>(handler: F, options?: ServeOptions): ServedHandler<HandlerApi<F>>;
export function serve<M extends HandlerMap>(handler: M, options?: ServeOptions): ServedHandler<HandlerApi<M>>;
export function serve(handler: Handler | HandlerMap, options: ServeOptions = {}): ServedHandler {
  if (serving) throw new Error('serve() was already called: a handler process serves one set of methods');
  const route = router(handler);
  const opts = plainObject('options', options);
  const concurrency = opts.concurrency === undefined ? Infinity : positiveInteger('options.concurrency', opts.concurrency);
  // The decoder validates maxFrameBytes, maxDepth and maxItems (RangeError naming the option).
  const decoder = new FrameDecoder({ maxFrameBytes: options.maxFrameBytes, maxDepth: options.maxDepth, maxItems: options.maxItems });
  serving = true;
  startSession(route, decoder, decoder.limits, concurrency);
  return Object.freeze({ methods: typeof handler === 'function' ? undefined : Object.freeze(Object.keys(handler)) });
}

type Route = (method: string | undefined) => Handler | undefined;

function router(handler: Handler | HandlerMap): Route {
  if (typeof handler === 'function') return () => handler;
  const map = plainObject('handler', handler);
  // A Map, not the object: a method named "toString" or "__proto__" must not reach Object.prototype.
  const methods = new Map<string, Handler>();
  for (const [name, fn] of Object.entries(map)) {
    if (typeof fn !== 'function') throw new TypeError(`handler.${name} must be a function, got ${typeof fn}`);
    methods.set(name, fn as Handler);
  }
  return (method) => (method === undefined ? undefined : methods.get(method));
}

/**
 * What a method learns about its request. The AbortController behind `signal` is made only when
 * someone asks for the signal or the manager cancels: most requests never need one, and making
 * one per request was the single largest cost of a small request in this process.
 */
class RequestContext implements HandlerContext {
  private controller: AbortController | undefined;

  constructor(readonly id: number, readonly method: string | undefined) {}

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.controller?.signal.aborted ?? false;
  }

  abort(): void {
    this.controller ??= new AbortController();
    this.controller.abort();
  }
}

function startSession(route: Route, decoder: FrameDecoder, limits: ProtocolLimits, concurrency: number): void {
  /** Every request accepted and not yet answered (running or waiting), by wire id. */
  const open = new Map<number, RequestContext>();
  const waiting: RequestMessage[] = [];
  let running = 0;
  let closing = false;
  let exiting = false;
  /** True while startWaiting() runs: a method that finishes synchronously must not re-enter it. */
  let pumping = false;

  // Answers given in the same tick leave in one write to stdout.
  const writer = new FrameWriter(writeFrame, limits);
  // A method that calls process.exit() must not take the answers already given with it.
  process.on('exit', () => writer.flush());

  const send = (message: HandlerMessage): void => writer.write(message);

  const answerError = (id: number, code: string, message: string): void => {
    try {
      send({ t: 'res', id, ok: false, e: { code, message: message.slice(0, MAX_ERROR_MESSAGE) } });
    } catch {
      // Only a tiny maxFrameBytes gets here; the request must still be answered.
      send({ t: 'res', id, ok: false, e: { code, message: '' } });
    }
  };

  const answer = (id: number, value: unknown): void => {
    try {
      send({ t: 'res', id, ok: true, p: value === undefined ? null : value });
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      answerError(id, err.reason, `the answer cannot be sent: ${err.message}`);
    }
  };

  const exit = (code: number): void => {
    if (exiting) return;
    exiting = true;
    process.stdin.pause();
    writer.flush();
    setTimeout(() => process.exit(code), EXIT_FLUSH_LIMIT_MS);
    void flushOutput().then(() => process.exit(code));
  };

  const finishIfDrained = (): void => {
    if (closing && running === 0 && waiting.length === 0) exit(0);
  };

  const failed = (context: RequestContext, err: unknown): void => {
    answerError(context.id, context.aborted ? 'ABORTED' : codeOf(err), messageOf(err));
  };

  const finished = (context: RequestContext): void => {
    running--;
    open.delete(context.id);
    if (!pumping) startWaiting();
    finishIfDrained();
  };

  const run = (request: RequestMessage): void => {
    const context = open.get(request.id)!;
    const fn = route(request.m);
    if (fn === undefined) {
      open.delete(request.id);
      answerError(request.id, 'ENOSYS', request.m === undefined ? 'the request names no method' : `no method ${JSON.stringify(request.m)}`);
      return;
    }
    running++;
    let result: unknown;
    try {
      result = fn(request.p, context);
    } catch (err) {
      failed(context, err);
      finished(context);
      return;
    }
    if (!isThenable(result)) {
      // A synchronous answer goes out now: no promise, no extra turn of the microtask queue.
      answer(context.id, result);
      finished(context);
      return;
    }
    Promise.resolve(result).then(
      (value) => {
        answer(context.id, value);
        finished(context);
      },
      (err: unknown) => {
        failed(context, err);
        finished(context);
      },
    );
  };

  const startWaiting = (): void => {
    pumping = true;
    try {
      while (running < concurrency && waiting.length > 0) run(waiting.shift()!);
    } finally {
      pumping = false;
    }
  };

  const receive = (message: ManagerMessage): void => {
    switch (message.t) {
      case 'req':
        if (closing) {
          answerError(message.id, 'STOPPING', 'the handler got "bye" and takes no new requests');
          return;
        }
        if (open.has(message.id)) throw new ProtocolError('BAD_MESSAGE', `request id ${message.id} is already in flight`);
        open.set(message.id, new RequestContext(message.id, message.m));
        if (running < concurrency && waiting.length === 0) run(message);
        else waiting.push(message);
        return;
      case 'ping':
        send({ t: 'pong', id: message.id });
        return;
      case 'cancel': {
        const context = open.get(message.id);
        if (context === undefined) return; // already answered: cancel is best effort
        context.abort();
        const queued = waiting.findIndex((r) => r.id === message.id);
        if (queued >= 0) {
          waiting.splice(queued, 1);
          open.delete(message.id);
          answerError(message.id, 'ABORTED', 'cancelled before it started');
        }
        return;
      }
      case 'bye':
        closing = true;
        finishIfDrained();
        return;
    }
  };

  const onFrame = (value: unknown): void => receive(parseManagerMessage(value));

  process.stdin.on('data', (chunk: Buffer) => {
    if (exiting) return;
    try {
      decoder.feed(chunk, onFrame);
    } catch (err) {
      process.stderr.write(`umdkit handler: bad frame from the manager, exiting: ${(err as Error).message}\n`);
      exit(2);
    }
  });
  // EOF or a broken pipe: the manager is gone (or let go of us). Exit now; nobody reads answers.
  process.stdin.on('end', () => exit(0));
  process.stdin.on('error', () => exit(0));
  onOutputError(() => exit(0));

  send({ t: 'hello', v: PROTOCOL_VERSION, pid: process.pid });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.length > 0 ? code : 'ERROR';
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return 'a value that cannot be shown';
  }
}
