import { connect, type Socket } from 'node:net';
import { UMD_ERROR_CODES, UmdError, type UmdErrorCode } from '../errors.js';
import type { ManagerEvent } from '../manager/events.js';
import type { TreeSnapshot } from '../manager/snapshot.js';
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder, ProtocolError } from '../protocol/index.js';
import { BAD_REQUEST, parseServiceMessage, type ClientMessage, type ServiceMessage, type ServiceResponse } from './messages.js';
import { defaultSocketPath } from './socket-path.js';

/**
 * A client of the service socket, for `umdkit call`/`status` and for programs on the same host.
 * It promises what `manager.request()` promises: every call settles exactly once.
 */

/**
 * Options of {@link connectService}.
 *
 * @example
 * ```ts
 * const client = await connectService('/run/parser.sock', { maxFrameBytes: 64 << 20 });
 * ```
 */
export interface ServiceClientOptions {
  /** Largest frame accepted from the service (default 16 MiB). */
  maxFrameBytes?: number;
}

/**
 * Per-request options of {@link ServiceClient.request}.
 *
 * @example
 * ```ts
 * await client.request('parser', bytes, { method: 'parse', timeoutMs: 2000, idempotent: true });
 * ```
 */
export interface ServiceRequestOptions {
  method?: string;
  timeoutMs?: number;
  idempotent?: boolean;
  /** Rejects the call with `ABORTED` at once and tells the service to cancel the request. */
  signal?: AbortSignal;
  /**
   * Told, just before the call settles, the deadline the service applied: `timeoutMs` raised to
   * its floor or lowered to its ceiling, or the driver's own when none was asked for.
   */
  onDeadline?: (timeoutMs: number) => void;
}

/**
 * Connects to a running service (`umdkit run`). Rejects with the system error (its `code` is
 * `ENOENT` when nothing runs there, `ECONNREFUSED` for a stale socket, `EACCES` for another
 * user's socket), its message naming the path.
 *
 * @example
 * ```ts
 * import { connectService } from 'umdkit';
 * const client = await connectService();            // the default socket
 * console.log(await client.request('parser', { text: '1 + 2' }));
 * await client.close();
 * ```
 */
export async function connectService(path: string = defaultSocketPath(), options: ServiceClientOptions = {}): Promise<ServiceClient> {
  // EAGAIN: the service's accept backlog is full for the moment (a burst of connections). The
  // service takes connections as fast as it can, so trying again shortly gets in.
  for (let attempt = 0; ; attempt++) {
    try {
      return new ServiceClient(await connectOnce(path), options);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' || attempt >= CONNECT_ATTEMPTS - 1) {
        throw Object.assign(new Error(`cannot connect to the umdkit service at ${path}: ${code ?? (err as Error).message}`, { cause: err }), { code });
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(10 * 2 ** attempt, 250)));
    }
  }
}

/** Tries on a full accept backlog: about three seconds of backoff in all. */
const CONNECT_ATTEMPTS = 16;

function connectOnce(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const onError = (err: NodeJS.ErrnoException) => reject(err);
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

interface Waiter {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  deadline?: ((timeoutMs: number) => void) | undefined;
}

/**
 * One connection to a service. Create it with {@link connectService}.
 *
 * @example
 * ```ts
 * const client = await connectService(socketPath);
 * const [a, b] = await Promise.all([client.request('parser', x), client.request('parser', y)]);
 * await client.close();
 * ```
 */
export class ServiceClient {
  private readonly decoder: FrameDecoder;
  private readonly waiters = new Map<number, Waiter>();
  private readonly listeners = new Set<{ event: (event: ManagerEvent) => void; dropped?: ((count: number) => void) | undefined }>();
  private nextId = 1;
  private failure: Error | undefined;
  private helloSeen = false;
  private readonly closedPromise: Promise<void>;
  /** The service's pid, once its hello arrived. */
  servicePid: number | undefined;

  /** @internal use {@link connectService}. */
  constructor(private readonly socket: Socket, options: ServiceClientOptions) {
    this.decoder = new FrameDecoder({ maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, maxDepth: DEFAULT_MAX_DEPTH });
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      if (this.failure) return;
      try {
        this.decoder.feed(chunk, (raw) => this.onMessage(parseServiceMessage(raw)));
      } catch (err) {
        this.abandon(err as Error);
        socket.destroy();
      }
    });
    socket.on('error', (err) => this.abandon(err));
    socket.on('close', () => this.abandon(new UmdError('STOPPED', 'the service closed the connection before answering')));
  }

  /**
   * Sends `payload` to `driver` through the service; resolves with the validated answer or
   * rejects with a `UmdError` (the service's code), or a `RangeError` with `code: 'BAD_REQUEST'`
   * when the service refused it (unknown driver, bad options).
   *
   * @example
   * ```ts
   * const answer = await client.request('parser', bytes, { method: 'parse', timeoutMs: 1000 });
   * ```
   */
  request<T = unknown>(driver: string, payload: unknown, options: ServiceRequestOptions = {}): Promise<T> {
    const id = this.nextId++;
    const message: ClientMessage = { t: 'req', id, d: driver, p: payload };
    if (options.method !== undefined) message.m = options.method;
    if (options.timeoutMs !== undefined) message.timeoutMs = options.timeoutMs;
    if (options.idempotent !== undefined) message.idempotent = options.idempotent;
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new UmdError('ABORTED', `request to "${driver}" aborted before it was sent`, { driver }));
    const answer = this.call(id, message, options.onDeadline) as Promise<T>;
    if (signal === undefined) return answer;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(id);
        this.send({ t: 'cancel', id });
        reject(new UmdError('ABORTED', `request to "${driver}" aborted (cancel sent to the service)`, { driver }));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      answer.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * The service's tree right now (the same snapshot `manager.snapshot()` gives).
   *
   * @example
   * ```ts
   * const tree = await client.status();
   * ```
   */
  status(): Promise<TreeSnapshot> {
    const id = this.nextId++;
    return this.call(id, { t: 'status', id }) as Promise<TreeSnapshot>;
  }

  /**
   * Streams the service's events (lifecycle, requests, handler log lines) to `listener`; resolves
   * with the snapshot taken when the stream began. `onDropped` learns how many events were left
   * out when this client read too slowly.
   *
   * @example
   * ```ts
   * const tree = await client.subscribe((event) => console.log(event.type));
   * ```
   */
  subscribe(listener: (event: ManagerEvent) => void, onDropped?: (count: number) => void): Promise<TreeSnapshot> {
    this.listeners.add({ event: listener, dropped: onDropped });
    const id = this.nextId++;
    return this.call(id, { t: 'subscribe', id }) as Promise<TreeSnapshot>;
  }

  /**
   * Closes the connection; calls still waiting reject with `STOPPED`.
   *
   * @example
   * ```ts
   * await client.close();
   * ```
   */
  close(): Promise<void> {
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), 1000).unref();
    return this.closedPromise.finally(() => clearTimeout(timer));
  }

  private call(id: number, message: ClientMessage, deadline?: (timeoutMs: number) => void): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiters.set(id, { resolve, reject, deadline });
      this.send(message);
    });
  }

  private send(message: ClientMessage): void {
    let frame: Buffer;
    try {
      frame = encodeFrame(message, this.decoder.limits);
    } catch (err) {
      const waiter = this.waiters.get(message.id);
      this.waiters.delete(message.id);
      waiter?.reject(err as Error);
      return;
    }
    if (this.socket.writable) this.socket.write(frame);
  }

  private onMessage(message: ServiceMessage): void {
    if (!this.helloSeen) {
      if (message.t !== 'hello') throw new ProtocolError('BAD_MESSAGE', `the first frame of a service must be "hello", got t = "${message.t}"`);
      this.helloSeen = true;
      this.servicePid = message.pid;
      return;
    }
    switch (message.t) {
      case 'hello':
        throw new ProtocolError('BAD_MESSAGE', 'a second "hello"');
      case 'res': {
        const waiter = this.waiters.get(message.id);
        if (waiter === undefined) return; // an answer to a call this client abandoned (aborted)
        this.waiters.delete(message.id);
        if (message.timeoutMs !== undefined) waiter.deadline?.(message.timeoutMs);
        if (message.ok) waiter.resolve(message.p);
        else waiter.reject(errorOf(message));
        return;
      }
      case 'event':
        for (const listener of this.listeners) listener.event(message.p);
        return;
      case 'dropped':
        for (const listener of this.listeners) listener.dropped?.(message.n);
        return;
      case 'error':
        this.abandon(new UmdError(asCode(message.e.code), `the service closed the connection: ${message.e.message}`));
        return;
    }
  }

  /** Rejects every waiting call once, with the first reason the connection died. */
  private abandon(error: Error): void {
    this.failure ??= error;
    const waiters = [...this.waiters.values()];
    this.waiters.clear();
    for (const waiter of waiters) waiter.reject(this.failure);
  }
}

function errorOf(message: Extract<ServiceResponse, { ok: false }>): Error {
  const { code, message: text, details } = message.e;
  if (code === BAD_REQUEST) return Object.assign(new RangeError(text), { code: BAD_REQUEST });
  return new UmdError(asCode(code), text, details ?? {});
}

function asCode(code: string): UmdErrorCode {
  return (UMD_ERROR_CODES as readonly string[]).includes(code) ? (code as UmdErrorCode) : 'PROTOCOL';
}
