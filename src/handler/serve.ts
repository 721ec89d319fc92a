import { flushOutput, onOutputError, writeFrame } from './stdout-guard.js';
import {
  encodeFrame,
  FrameDecoder,
  parseManagerMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type HandlerMessage,
  type ManagerMessage,
  type ProtocolLimits,
  type RequestMessage,
} from '../protocol/index.js';
import { positiveInteger, plainObject } from '../util/options.js';
import type { Handler, HandlerMap, ServeOptions } from './types.js';

/** Longest error message sent back; a handler's error text is a diagnosis, not a payload. */
const MAX_ERROR_MESSAGE = 4096;
/** If flushing output hangs (a peer that stopped reading), exit anyway after this long. */
const EXIT_FLUSH_LIMIT_MS = 2000;

let serving = false;

/**
 * Turns this process into a handler: says `hello`, then reads request frames on stdin and answers
 * them on stdout until `bye` (finishes in-flight work, exits 0) or EOF of stdin (exits 0 at once:
 * the manager is gone, nobody would read the answers). Pass one function for every method, or a
 * map of methods.
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
 * serve({
 *   parse: (bytes) => parseUntrusted(bytes as Uint8Array),
 *   version: () => '1.0.0',
 * }, { concurrency: 4 });
 * ```
 */
export function serve(handler: Handler | HandlerMap, options: ServeOptions = {}): void {
  if (serving) throw new Error('serve() was already called: a handler process serves one set of methods');
  const route = router(handler);
  const opts = plainObject('options', options);
  const concurrency = opts.concurrency === undefined ? Infinity : positiveInteger('options.concurrency', opts.concurrency);
  // The decoder validates maxFrameBytes and maxDepth (RangeError naming the option).
  const decoder = new FrameDecoder({ maxFrameBytes: options.maxFrameBytes, maxDepth: options.maxDepth });
  serving = true;
  startSession(route, decoder, decoder.limits, concurrency);
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

function startSession(route: Route, decoder: FrameDecoder, limits: ProtocolLimits, concurrency: number): void {
  /** Every request accepted and not yet answered (running or waiting), by wire id. */
  const open = new Map<number, AbortController>();
  const waiting: RequestMessage[] = [];
  let running = 0;
  let closing = false;
  let exiting = false;

  const send = (message: HandlerMessage): void => writeFrame(encodeFrame(message, limits));

  const answerError = (id: number, code: string, message: string): void => {
    try {
      send({ t: 'res', id, ok: false, e: { code, message: message.slice(0, MAX_ERROR_MESSAGE) } });
    } catch {
      // Only a tiny maxFrameBytes gets here; the request must still be answered.
      send({ t: 'res', id, ok: false, e: { code, message: '' } });
    }
  };

  const answer = (id: number, value: unknown): void => {
    let frame: Uint8Array;
    try {
      frame = encodeFrame({ t: 'res', id, ok: true, p: value === undefined ? null : value }, limits);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      answerError(id, err.reason, `the answer cannot be sent: ${err.message}`);
      return;
    }
    writeFrame(frame);
  };

  const exit = (code: number): void => {
    if (exiting) return;
    exiting = true;
    process.stdin.pause();
    setTimeout(() => process.exit(code), EXIT_FLUSH_LIMIT_MS);
    void flushOutput().then(() => process.exit(code));
  };

  const finishIfDrained = (): void => {
    if (closing && running === 0 && waiting.length === 0) exit(0);
  };

  const run = (request: RequestMessage): void => {
    const controller = open.get(request.id)!;
    const fn = route(request.m);
    if (fn === undefined) {
      open.delete(request.id);
      answerError(request.id, 'ENOSYS', request.m === undefined ? 'the request names no method' : `no method ${JSON.stringify(request.m)}`);
      return;
    }
    running++;
    let outcome: Promise<unknown>;
    try {
      outcome = Promise.resolve(fn(request.p, { method: request.m, signal: controller.signal, id: request.id }));
    } catch (err) {
      outcome = Promise.reject(err);
    }
    outcome
      .then(
        (value) => answer(request.id, value),
        (err: unknown) => {
          const code = controller.signal.aborted ? 'ABORTED' : codeOf(err);
          answerError(request.id, code, messageOf(err));
        },
      )
      .finally(() => {
        running--;
        open.delete(request.id);
        startWaiting();
        finishIfDrained();
      });
  };

  const startWaiting = (): void => {
    while (running < concurrency && waiting.length > 0) run(waiting.shift()!);
  };

  const receive = (message: ManagerMessage): void => {
    switch (message.t) {
      case 'req':
        if (closing) {
          answerError(message.id, 'STOPPING', 'the handler got "bye" and takes no new requests');
          return;
        }
        if (open.has(message.id)) throw new ProtocolError('BAD_MESSAGE', `request id ${message.id} is already in flight`);
        open.set(message.id, new AbortController());
        if (running < concurrency) run(message);
        else waiting.push(message);
        return;
      case 'ping':
        send({ t: 'pong', id: message.id });
        return;
      case 'cancel': {
        const controller = open.get(message.id);
        if (controller === undefined) return; // already answered: cancel is best effort
        controller.abort();
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
