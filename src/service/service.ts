import { dirname } from 'node:path';
import type { Socket } from 'node:net';
import { createManager, type Manager } from '../manager/manager.js';
import type { ManagerListener } from '../manager/events.js';
import type { ManagerOptions } from '../manager/options.js';
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_FRAME_BYTES, encodeFrame, MAX_FRAME_BYTES_LIMIT } from '../protocol/index.js';
import { nonNegativeInteger, numberInRange, positiveInteger, knownKeys, plainObject } from '../util/options.js';
import { ClientConnection, type ConnectionHost } from './connection.js';
import { listenOnSocket, refuseLivePath, type SocketListener } from './listener.js';
import { checkSocketPath, defaultSocketPath, ensureSocketDir } from './socket-path.js';

/**
 * A supervision tree run as a service: the manager plus a local front door (a Unix socket that
 * speaks the frame protocol, docs/SERVICE.md), with a graceful stop and a forced one.
 */

/**
 * Options of {@link startService}.
 *
 * @example
 * ```ts
 * const options: ServiceOptions = { manager: await loadConfig('umdkit.config.mjs'), drainMs: 10_000 };
 * ```
 */
export interface ServiceOptions {
  /** The tree: `createManager` options, typically from `loadConfig`. */
  manager: ManagerOptions;
  /** Socket path (default: `defaultSocketPath()`, whose directory is created 0700). */
  socket?: string;
  /** How long a graceful stop waits for requests in flight before they are rejected `STOPPED` (default 5000). */
  drainMs?: number;
  /** Requests one client may have in flight (default 64); more are answered `QUEUE_FULL`. */
  maxInFlightPerClient?: number;
  /** Clients connected at once (default 64); more are refused. */
  maxClients?: number;
  /** Largest frame to or from a client (default 16 MiB). */
  maxFrameBytes?: number;
  /** Subscribed before anything starts (it sees the first spawns); same as the manager's `onEvent`. */
  onEvent?: ManagerListener;
}

/**
 * Why a service ended: stopped gracefully, forced (a second signal), or its root supervisor gave up.
 *
 * @example
 * ```ts
 * const end = await service.exited;
 * process.exitCode = end.reason === 'stopped' ? 0 : end.reason === 'gave-up' ? 70 : 1;
 * ```
 */
export type ServiceExit = { reason: 'stopped' } | { reason: 'forced' } | { reason: 'gave-up'; message: string };

const SERVICE_KEYS = ['manager', 'socket', 'drainMs', 'maxInFlightPerClient', 'maxClients', 'maxFrameBytes', 'onEvent'] as const;

/**
 * Starts the tree (resolving once every handler said hello), then opens the socket. Rejects, with
 * nothing left running, when the tree cannot start (`GAVE_UP`), the socket path is taken by a
 * live service, or an option is bad (`TypeError`/`RangeError` naming it).
 *
 * @example
 * ```ts
 * import { startService } from 'umdkit';
 * const service = await startService({ manager: { children: [parser] }, socket: '/run/parser.sock' });
 * process.once('SIGTERM', () => void service.stop());
 * const end = await service.exited; // { reason: 'stopped' }
 * ```
 */
export async function startService(options: ServiceOptions): Promise<Service> {
  const o = plainObject('options', options);
  knownKeys('options', o, SERVICE_KEYS);
  plainObject('options.manager', o.manager);
  const settings = {
    socket: o.socket === undefined ? defaultSocketPath() : socketOption(o.socket),
    drainMs: o.drainMs === undefined ? 5000 : nonNegativeInteger('options.drainMs', o.drainMs),
    maxInFlight: o.maxInFlightPerClient === undefined ? 64 : positiveInteger('options.maxInFlightPerClient', o.maxInFlightPerClient),
    maxClients: o.maxClients === undefined ? 64 : positiveInteger('options.maxClients', o.maxClients),
    maxFrameBytes: o.maxFrameBytes === undefined ? DEFAULT_MAX_FRAME_BYTES : numberInRange('options.maxFrameBytes', positiveInteger('options.maxFrameBytes', o.maxFrameBytes), 1, MAX_FRAME_BYTES_LIMIT),
  };
  if (o.onEvent !== undefined && typeof o.onEvent !== 'function') throw new TypeError(`options.onEvent must be a function, got ${typeof o.onEvent}`);
  if (o.socket === undefined) await ensureSocketDir(dirname(settings.socket));
  // Before any handler starts: a path another service holds fails the start with nothing to undo.
  checkSocketPath(settings.socket);
  await refuseLivePath(settings.socket);

  const theirs = options.manager.onEvent;
  const ours = options.onEvent;
  // Both listeners see every event when the manager options bring one too.
  const onEvent: ManagerListener | undefined = theirs && ours
    ? (event) => {
        theirs(event);
        ours(event);
      }
    : (ours ?? theirs);
  const manager = await createManager({ ...options.manager, ...(onEvent ? { onEvent } : {}) });
  const service = new Service(manager, settings);
  try {
    await service.listen();
  } catch (err) {
    await manager.stop({ drainMs: 0 });
    throw err;
  }
  return service;
}

function socketOption(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`options.socket must be a path, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * A running service. Create it with {@link startService}.
 *
 * @example
 * ```ts
 * const service = await startService({ manager: await loadConfig('umdkit.config.mjs') });
 * console.log(`serving on ${service.socketPath}`);
 * await service.stop(); // { reason: 'stopped' }
 * ```
 */
export class Service {
  private listener: SocketListener | undefined;
  private readonly connections = new Set<ClientConnection>();
  private readonly subscribers = new Set<ClientConnection>();
  private accepting = true;
  private inFlight = 0;
  private drainWaiter: (() => void) | undefined;
  private ending: Promise<ServiceExit> | undefined;
  private exit: ServiceExit | undefined;
  private forced = false;
  private resolveExited!: (exit: ServiceExit) => void;
  /** Resolves once the service has ended (every handler stopped, every image and the socket removed). */
  readonly exited: Promise<ServiceExit>;

  /** @internal use {@link startService}. */
  constructor(readonly manager: Manager, private readonly settings: { socket: string; drainMs: number; maxInFlight: number; maxClients: number; maxFrameBytes: number }) {
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    manager.subscribe((event) => {
      if (event.type === 'gave-up') this.end({ reason: 'gave-up', message: event.reason });
      if (this.subscribers.size > 0) this.fanOut(event);
    });
  }

  /** The socket clients connect to. */
  get socketPath(): string {
    return this.settings.socket;
  }

  /** Requests from socket clients still in flight. */
  get pending(): number {
    return this.inFlight;
  }

  /** @internal opens the front door. */
  async listen(): Promise<void> {
    const host = this.host();
    this.listener = await listenOnSocket(this.settings.socket, (socket: Socket) => {
      if (!this.accepting) {
        socket.destroy();
        return;
      }
      this.connections.add(new ClientConnection(socket, host));
    }, { maxConnections: this.settings.maxClients });
  }

  /**
   * Stops: no new connections or requests (answered `STOPPED`), the requests in flight get up to
   * `drainMs` to finish, then the manager stops (the rest are rejected `STOPPED`, handlers get
   * `bye`, are killed after their grace, images are unloaded), clients are disconnected and the
   * socket file is removed. With `force` (or called again with it), the drain is cut short and
   * every handler is SIGKILLed at once. Resolves with how the service ended.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => {
   *   void service.stop();
   *   process.once('SIGTERM', () => void service.stop({ force: true }));
   * });
   * ```
   */
  stop(options: { force?: boolean } = {}): Promise<ServiceExit> {
    if (options.force) this.force();
    return this.end(options.force ? { reason: 'forced' } : { reason: 'stopped' });
  }

  private end(exit: ServiceExit): Promise<ServiceExit> {
    if (this.ending === undefined) {
      this.exit = exit;
      this.ending = this.shutdown();
      void this.ending.then(this.resolveExited);
    }
    return this.ending;
  }

  private async shutdown(): Promise<ServiceExit> {
    this.accepting = false;
    await this.listener?.close();
    if (this.exit?.reason === 'stopped' && this.settings.drainMs > 0 && this.inFlight > 0 && !this.forced) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.drainWaiter?.(), this.settings.drainMs);
        this.drainWaiter = () => {
          clearTimeout(timer);
          this.drainWaiter = undefined;
          resolve();
        };
      });
    }
    await this.manager.stop({ drainMs: 0 });
    await Promise.all([...this.connections].map((connection) => connection.end()));
    return this.exit!;
  }

  /** Cuts a drain short and kills every handler's process group now (the manager still reaps and unloads). */
  private force(): void {
    if (this.forced) return;
    this.forced = true;
    if (this.exit !== undefined && this.exit.reason === 'stopped') this.exit = { reason: 'forced' };
    this.drainWaiter?.();
    void this.manager.stop({ drainMs: 0 });
    for (const pid of handlerPids(this.manager.snapshot())) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  private fanOut(event: Parameters<ManagerListener>[0]): void {
    let frame: Buffer;
    try {
      frame = encodeFrame({ t: 'event', p: event }, { maxFrameBytes: this.settings.maxFrameBytes, maxDepth: DEFAULT_MAX_DEPTH });
    } catch {
      return; // events are plain data; one that cannot be sent is skipped, not fatal
    }
    for (const connection of this.subscribers) connection.sendEvent(frame);
  }

  private host(): ConnectionHost {
    const service = this;
    return {
      manager: this.manager,
      get accepting() {
        return service.accepting;
      },
      limits: { maxFrameBytes: this.settings.maxFrameBytes, maxDepth: DEFAULT_MAX_DEPTH },
      maxInFlight: this.settings.maxInFlight,
      requestStarted: () => {
        this.inFlight++;
      },
      requestSettled: () => {
        this.inFlight--;
        if (this.inFlight === 0) this.drainWaiter?.();
      },
      subscribe: (connection) => {
        this.subscribers.add(connection);
        return () => this.subscribers.delete(connection);
      },
      closed: (connection) => {
        this.connections.delete(connection);
        this.subscribers.delete(connection);
      },
    };
  }
}

/** Pids of every live handler in a snapshot. */
function handlerPids(node: ReturnType<Manager['snapshot']>): number[] {
  const pids: number[] = [];
  const walk = (n: ReturnType<Manager['snapshot']>) => {
    if (n.kind === 'instance' && n.pid !== null) pids.push(n.pid);
    for (const child of n.children ?? []) walk(child);
  };
  walk(node);
  return pids;
}
