import type { Socket } from 'node:net';
import { UmdError } from '../errors.js';
import type { Manager } from '../manager/manager.js';
import { encodeFrame, FrameDecoder, PROTOCOL_VERSION, ProtocolError, type ProtocolLimits } from '../protocol/index.js';
import { effectiveTimeout } from './limits.js';
import { BAD_REQUEST, parseClientMessage, type ClientMessage, type ClientRequest, type ServiceMessage } from './messages.js';

/**
 * One local client of the service socket, hardened like the handler side: its own FrameDecoder
 * with limits, a bound on its requests in flight, and one strike — a frame that is not a valid
 * client message (or a stream cut inside a frame) gets a `PROTOCOL` error frame and the
 * connection is closed. Nothing a client sends can reach another client or the service.
 *
 * A connection is *connecting* until its first complete message, then *admitted* (the service
 * may refuse it when every client slot is busy). Time is bounded at both ends: a connection that
 * sends no complete message within `headerTimeoutMs` is closed (silent or dribbling sockets
 * cannot hold a slot), and an admitted one with nothing in flight and no subscription is closed
 * after `idleTimeoutMs` of silence — or sooner, when a new client needs its slot.
 */

/**
 * What a connection needs from the service that accepted it.
 *
 * @example
 * ```ts
 * const host: ConnectionHost = { manager, accepting: true, limits: DEFAULT_LIMITS, maxInFlight: 64,
 *   headerTimeoutMs: 10_000, idleTimeoutMs: 60_000, minTimeoutMs: 10, maxTimeoutMs: 600_000,
 *   driverTimeoutMs: () => 30_000, admit: () => true, buffering: () => {}, released: () => {},
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
  /** Time from connecting to the first complete message. */
  readonly headerTimeoutMs: number;
  /** Silence allowed to an admitted client with nothing in flight and no subscription. */
  readonly idleTimeoutMs: number;
  /** Floor and ceiling of the deadline a client may ask for. */
  readonly minTimeoutMs: number;
  readonly maxTimeoutMs: number;
  /** The driver's own deadline, applied when a client asks for none (undefined: no such driver). */
  driverTimeoutMs(driver: string): number | undefined;
  /** The connection's first complete message arrived: may it be served? False: every slot is busy. */
  admit(connection: ClientConnection): boolean;
  /** A connection still waiting for its first message now holds `bytes` of an unfinished frame. */
  buffering(connection: ClientConnection, bytes: number): void;
  /** The connection gives up its slot (it is closing); called once, before `closed`. */
  released(connection: ClientConnection): void;
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
  private phase: 'connecting' | 'admitted' | 'closing' = 'connecting';
  private headerTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** When this admitted client last had nothing to do (undefined while it has), for choosing whom to close. */
  private quietSince: number | undefined;
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
    this.headerTimer = setTimeout(() => {
      this.evict(`no complete message within ${host.headerTimeoutMs} ms of connecting (headerTimeoutMs)`, 'grace');
    }, host.headerTimeoutMs).unref();
  }

  /**
   * Since when this admitted client has had nothing in flight and no subscription; undefined
   * while it has work, a subscription, or is not admitted. The longest quiet one is the first to
   * give its slot to a newcomer.
   */
  get idleSince(): number | undefined {
    return this.phase === 'admitted' ? this.quietSince : undefined;
  }

  /**
   * Closes this connection to free its slot: an `error` frame saying why (if the client still
   * reads), then the socket is destroyed — at once, or after the close grace with `'grace'`.
   * Its requests in flight are aborted.
   */
  evict(reason: string, how: 'now' | 'grace' = 'now'): void {
    if (this.isClosed || this.phase === 'closing') return;
    this.leave();
    for (const controller of this.inFlight.values()) controller.abort(new Error(`the connection was closed: ${reason}`));
    if (!this.socket.writable) {
      this.socket.destroy();
      return;
    }
    this.socket.end(encodeFrame({ t: 'error', e: { code: 'PROTOCOL', message: reason } }));
    if (how === 'now') this.socket.destroy();
    else this.closeTimer ??= setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Gives up the slot once: no more messages are served, no timers run. */
  private leave(): void {
    if (this.phase === 'closing') return;
    this.phase = 'closing';
    this.failed = true;
    clearTimeout(this.headerTimer);
    clearTimeout(this.idleTimer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.host.released(this);
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
      this.leave();
      this.socket.end();
      this.closeTimer ??= setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    }
    return this.done;
  }

  private onData(chunk: Buffer): void {
    if (this.failed || this.isClosed) return;
    try {
      this.decoder.feed(chunk, (raw) => this.onMessage(parseClientMessage(raw)));
      // Unproven connections share one budget of buffered bytes (a thousand half-sent frames must not add up).
      if (this.phase === 'connecting') this.host.buffering(this, this.decoder.buffered);
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
    this.leave();
    // Nobody will read the answers: let the handlers stop working on them.
    for (const controller of this.inFlight.values()) controller.abort(new Error('the client disconnected'));
    this.host.closed(this);
  }

  /** Every complete, valid message: admission first, then the message, then the idle clock. */
  private onMessage(message: ClientMessage): void {
    if (this.phase === 'closing') return;
    if (this.phase === 'connecting') {
      clearTimeout(this.headerTimer);
      if (!this.host.admit(this)) {
        this.refuse(message);
        return;
      }
      this.phase = 'admitted';
    }
    this.handle(message);
    this.idleCheck();
  }

  /** Every client slot is busy: this newcomer's first message is answered `QUEUE_FULL`, then it is closed. */
  private refuse(message: ClientMessage): void {
    if (message.t !== 'cancel') {
      this.respond(message.id, { ok: false, e: { code: 'QUEUE_FULL', message: 'the service is serving as many clients as it may (maxClients), none of them idle; try again later' } });
    }
    void this.end();
  }

  /** (Re)starts the idle clock when this client has nothing in flight and no subscription; stops it otherwise. */
  private idleCheck(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.phase !== 'admitted' || this.inFlight.size > 0 || this.unsubscribe !== undefined) {
      this.quietSince = undefined;
      return;
    }
    this.quietSince = performance.now();
    this.idleTimer = setTimeout(() => void this.end(), this.host.idleTimeoutMs).unref();
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
    // The client's deadline within the service's floor and ceiling; none asked: the driver's own.
    const timeoutMs = effectiveTimeout(message.timeoutMs, this.host);
    const applied = timeoutMs ?? this.host.driverTimeoutMs(message.d);
    const options = {
      signal: controller.signal,
      ...(message.m === undefined ? {} : { method: message.m }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(message.idempotent === undefined ? {} : { idempotent: message.idempotent }),
    };
    this.host.manager.request(message.d, message.p, options).then(
      (answer) => this.settle(id, controller, { ok: true, p: answer }, applied),
      (err: unknown) => this.settle(id, controller, { ok: false, e: errorBody(err) }, applied),
    );
  }

  private settle(id: number, controller: AbortController, body: ResponseBody, timeoutMs: number | undefined): void {
    if (this.inFlight.get(id) === controller) this.inFlight.delete(id);
    this.host.requestSettled();
    if (this.isClosed || this.failed) return;
    this.respond(id, body, timeoutMs);
    if (this.clientEnded && this.inFlight.size === 0) void this.end();
    else this.idleCheck();
  }

  /** Writes the `res` for `id`; `timeoutMs` is the deadline the service applied to that request. */
  private respond(id: number, body: ResponseBody, timeoutMs?: number): void {
    const message = { t: 'res', id, ...body, ...(timeoutMs === undefined ? {} : { timeoutMs }) } as ServiceMessage;
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
    this.leave();
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
