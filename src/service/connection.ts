import type { Socket } from 'node:net';
import { UmdError } from '../errors.js';
import type { Manager } from '../manager/manager.js';
import { encodeFrame, FrameDecoder, PROTOCOL_VERSION, ProtocolError, type ProtocolLimits } from '../protocol/index.js';
import { BAD_REQUEST, parseClientMessage, type ClientMessage, type ClientRequest, type ServiceMessage } from './messages.js';

/**
 * One local client of the service socket, hardened like the handler side: its own FrameDecoder
 * with limits, a bound on its requests in flight, and one strike — a frame that is not a valid
 * client message (or a stream cut inside a frame) gets a `PROTOCOL` error frame and the
 * connection is closed. Nothing a client sends can reach another client or the service.
 */

/**
 * What a connection needs from the service that accepted it.
 *
 * @example
 * ```ts
 * const host: ConnectionHost = { manager, accepting: true, limits: DEFAULT_LIMITS, maxInFlight: 64,
 *   requestStarted: () => inFlight++, requestSettled: () => inFlight--,
 *   subscribe: (c) => { subscribers.add(c); return () => subscribers.delete(c); }, closed: (c) => connections.delete(c) };
 * ```
 */
export interface ConnectionHost {
  readonly manager: Manager;
  /** False once the service is stopping: new requests are answered `STOPPED`. */
  readonly accepting: boolean;
  /** Limits of this client's frames, both directions. */
  readonly limits: ProtocolLimits;
  /** Requests one client may have in flight; past it, `QUEUE_FULL`. */
  readonly maxInFlight: number;
  /** A request of this client was handed to the manager / settled (for the drain at stop). */
  requestStarted(): void;
  requestSettled(): void;
  /** Adds this connection to the event fan-out; returns the unsubscribe function. */
  subscribe(connection: ClientConnection): () => void;
  /** The socket closed; forget this connection. */
  closed(connection: ClientConnection): void;
}

/** Bytes of unsent output past which events for a slow subscriber are dropped (and counted). */
const EVENT_BACKLOG_BYTES = 1 << 20;
/** How long a closing connection may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

/**
 * Serves one client: decodes its frames, routes `req` to `manager.request()`, answers `status`
 * and `subscribe`, and writes each answer as a `res` frame.
 *
 * @example
 * ```ts
 * server.on('connection', (socket) => connections.add(new ClientConnection(socket, host)));
 * ```
 */
export class ClientConnection {
  private readonly decoder: FrameDecoder;
  /** Requests in flight, by the client's id. */
  private readonly inFlight = new Map<number, AbortController>();
  private failed = false;
  private isClosed = false;
  /** The client ended its side: answer what is in flight, then end ours. */
  private clientEnded = false;
  private unsubscribe: (() => void) | undefined;
  private dropped = 0;
  private closeTimer: NodeJS.Timeout | undefined;
  /** Resolves once the socket is closed. */
  readonly done: Promise<void>;

  constructor(private readonly socket: Socket, private readonly host: ConnectionHost) {
    this.decoder = new FrameDecoder(host.limits);
    this.done = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    // A reset or EPIPE: 'close' follows, which does the cleanup.
    socket.on('error', () => {});
    socket.on('close', () => this.onClose());
    // Backpressure: a client that does not read its answers stops being read until it catches up.
    socket.on('drain', () => this.onDrain());
    this.write({ t: 'hello', v: PROTOCOL_VERSION, pid: process.pid });
  }

  /** Requests of this client still in flight. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** Sends one already encoded `event` frame, unless this client is too far behind (then it is counted). */
  sendEvent(frame: Buffer): void {
    if (this.isClosed || this.failed) return;
    if (this.socket.writableLength > EVENT_BACKLOG_BYTES) {
      this.dropped++;
      return;
    }
    if (this.dropped > 0) {
      this.write({ t: 'dropped', n: this.dropped });
      this.dropped = 0;
    }
    this.writeFrame(frame);
  }

  /** Ends the connection once what was written is flushed; destroys it if that takes too long. */
  end(): Promise<void> {
    if (!this.isClosed) {
      this.unsubscribe?.();
      this.unsubscribe = undefined;
      this.socket.end();
      this.closeTimer ??= setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    }
    return this.done;
  }

  private onData(chunk: Buffer): void {
    if (this.failed || this.isClosed) return;
    try {
      this.decoder.feed(chunk, (raw) => this.handle(parseClientMessage(raw)));
    } catch (err) {
      this.fail(err instanceof ProtocolError ? err : new ProtocolError('MALFORMED', String((err as Error)?.message ?? err)));
    }
  }

  private onDrain(): void {
    // A subscriber that caught up learns at once how many events it missed, not at the next event.
    if (this.dropped > 0 && !this.isClosed && !this.failed) {
      this.write({ t: 'dropped', n: this.dropped });
      this.dropped = 0;
    }
    this.socket.resume();
  }

  private onEnd(): void {
    if (this.failed || this.isClosed) return;
    try {
      this.decoder.end();
    } catch (err) {
      this.fail(err as ProtocolError);
      return;
    }
    this.clientEnded = true;
    if (this.inFlight.size === 0) void this.end();
  }

  private onClose(): void {
    this.isClosed = true;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    // Nobody will read the answers: let the handlers stop working on them.
    for (const controller of this.inFlight.values()) controller.abort(new Error('the client disconnected'));
    this.host.closed(this);
  }

  private handle(message: ClientMessage): void {
    switch (message.t) {
      case 'req':
        this.request(message);
        return;
      case 'cancel':
        this.inFlight.get(message.id)?.abort(new Error('cancelled by the client'));
        return;
      case 'status':
        this.respond(message.id, { ok: true, p: this.host.manager.snapshot() });
        return;
      case 'subscribe':
        // Registered before the snapshot is taken, both synchronously: no event falls between.
        this.unsubscribe ??= this.host.subscribe(this);
        this.respond(message.id, { ok: true, p: this.host.manager.snapshot() });
        return;
    }
  }

  private request(message: ClientRequest): void {
    const { id } = message;
    if (this.inFlight.has(id)) throw new ProtocolError('BAD_MESSAGE', `request id ${id} is already in flight on this connection`);
    if (!this.host.accepting) {
      this.respond(id, { ok: false, e: { code: 'STOPPED', message: `the service is stopping; request to ${JSON.stringify(message.d)} refused` } });
      return;
    }
    if (this.inFlight.size >= this.host.maxInFlight) {
      this.respond(id, { ok: false, e: { code: 'QUEUE_FULL', message: `this client has ${this.inFlight.size} requests in flight (the limit per client); request to ${JSON.stringify(message.d)} refused` } });
      return;
    }
    const controller = new AbortController();
    this.inFlight.set(id, controller);
    this.host.requestStarted();
    const options = {
      signal: controller.signal,
      ...(message.m === undefined ? {} : { method: message.m }),
      ...(message.timeoutMs === undefined ? {} : { timeoutMs: message.timeoutMs }),
      ...(message.idempotent === undefined ? {} : { idempotent: message.idempotent }),
    };
    this.host.manager.request(message.d, message.p, options).then(
      (answer) => this.settle(id, controller, { ok: true, p: answer }),
      (err: unknown) => this.settle(id, controller, { ok: false, e: errorBody(err) }),
    );
  }

  private settle(id: number, controller: AbortController, body: ResponseBody): void {
    if (this.inFlight.get(id) === controller) this.inFlight.delete(id);
    this.host.requestSettled();
    if (this.isClosed || this.failed) return;
    this.respond(id, body);
    if (this.clientEnded && this.inFlight.size === 0) void this.end();
  }

  private respond(id: number, body: ResponseBody): void {
    const message = { t: 'res', id, ...body } as ServiceMessage;
    let frame: Buffer;
    try {
      frame = encodeFrame(message, this.host.limits);
    } catch (err) {
      // An answer this client's limits cannot carry (too large, or outside the data model).
      const reason = (err as Error).message;
      const fallback = body.ok === false && body.e.details !== undefined
        ? { t: 'res', id, ok: false, e: { code: body.e.code, message: body.e.message } }
        : { t: 'res', id, ok: false, e: { code: 'PROTOCOL', message: `the answer cannot be sent to this client: ${reason}` } };
      frame = encodeFrame(fallback, this.host.limits);
    }
    this.writeFrame(frame);
  }

  private write(message: ServiceMessage): void {
    this.writeFrame(encodeFrame(message, this.host.limits));
  }

  private writeFrame(frame: Buffer): void {
    if (this.isClosed || !this.socket.writable) return;
    if (!this.socket.write(frame)) this.socket.pause();
  }

  /** One strike: tell the client why (if it still listens), close, and let go of its requests. */
  private fail(error: ProtocolError): void {
    if (this.failed || this.isClosed) return;
    this.failed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const controller of this.inFlight.values()) controller.abort(new Error('the client broke the protocol'));
    if (this.socket.writable) {
      this.socket.end(encodeFrame({ t: 'error', e: { code: error.code, message: error.message } }));
      this.closeTimer ??= setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    } else {
      this.socket.destroy();
    }
  }
}

type ResponseBody = { ok: true; p: unknown } | { ok: false; e: { code: string; message: string; details?: Record<string, unknown> } };

/** The `e` of a failed answer: UmdErrors keep their code and plain details; anything else was refused by the service. */
function errorBody(err: unknown): { code: string; message: string; details?: Record<string, unknown> } {
  if (err instanceof UmdError) {
    const details = plainDetails(err.details);
    return details === undefined ? { code: err.code, message: err.message } : { code: err.code, message: err.message, details };
  }
  return { code: BAD_REQUEST, message: err instanceof Error ? err.message : String(err) };
}

/** Keeps the details a client can use (numbers, text, flags, lists of text); drops the rest. */
function plainDetails(details: Record<string, unknown>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) {
    const plain = value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))
      || (Array.isArray(value) && value.every((item) => typeof item === 'string'));
    if (plain) out[key] = value;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
