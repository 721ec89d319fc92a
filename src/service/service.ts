import { dirname } from 'node:path';
import type { Socket } from 'node:net';
import { createManager, type Manager } from '../manager/manager.js';
import type { ManagerListener } from '../manager/events.js';
import { validateManagerOptions, type ManagerOptions as ManagerOptions } from '../manager/options.js';
import type { SupervisorSpec } from '../manager/tree-spec.js';
import { DEFAULT_MAX_DEPTH, encodeFrame } from '../protocol/index.js';
import { knownKeys, plainObject } from '../util/options.js';
import { ClientConnection, type ConnectionHost } from './connection.js';
import { resolveServiceLimits, SERVICE_LIMIT_KEYS, type ServiceLimits } from './limits.js';
import { listenOnSocket, refuseLivePath, type SocketListener } from './listener.js';
import { checkSocketPath, defaultSocketPath, ensureSocketDir } from './socket-path.js';

/**
 * A supervision tree run as a service: the manager plus a local front door (a Unix socket that
 * speaks the frame protocol, docs/SERVICE.md), with a graceful stop and a forced one.
 */

/**
 * Options of {@link startService}: the tree, the socket, and the front door's limits
 * ({@link ServiceLimits}; a config module's `service` field, from `loadServiceConfig`).
 *
 * @example
 * ```ts
 * const { manager, service } = await loadServiceConfig('umdkit.config.mjs');
 * const options: ServiceOptions = { manager, ...service, drainMs: 10_000 };
 * ```
 */
export interface ServiceOptions extends ServiceLimits {
  /** The tree: `createManager` options, typically from `loadConfig`. */
  manager: ManagerOptions;
  /** Socket path (default: `defaultSocketPath()`, whose directory is created 0700). */
  socket?: string;
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

const SERVICE_KEYS = ['manager', 'socket', 'onEvent', ...SERVICE_LIMIT_KEYS] as const;

/** What a running service knows of its settings. */
interface ServiceSettings extends Required<ServiceLimits> {
  socket: string;
  /** Each driver's own `requestTimeoutMs`, by name: the deadline of a request that asks for none. */
  driverTimeouts: ReadonlyMap<string, number>;
}

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
  const managerOptions = plainObject('options.manager', o.manager) as ManagerOptions;
  const limits = Object.fromEntries(SERVICE_LIMIT_KEYS.filter((key) => o[key] !== undefined).map((key) => [key, o[key]]));
  const settings: ServiceSettings = {
    ...resolveServiceLimits(limits, 'options'),
    socket: o.socket === undefined ? defaultSocketPath() : socketOption(o.socket),
    // Validated again by createManager; here only to learn each driver's own deadline.
    driverTimeouts: driverTimeouts(validateManagerOptions(managerOptions).tree),
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
  const manager = await createManager({ ...managerOptions, ...(onEvent ? { onEvent } : {}) });
  const service = new Service(manager, settings);
  try {
    await service.listen();
  } catch (err) {
    await manager.stop({ drainMs: 0 });
    throw err;
  }
  return service;
}

/** Every driver's `requestTimeoutMs` in the tree, by driver name. */
function driverTimeouts(tree: SupervisorSpec): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (node: SupervisorSpec['children'][number]) => {
    if (node.kind === 'driver') out.set(node.name, node.requestTimeoutMs);
    else for (const child of node.children) walk(child);
  };
  walk(tree);
  return out;
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
  /** Connections waiting for their first complete message, oldest first. */
  private readonly connecting = new Set<ClientConnection>();
  /** Bytes of unfinished frames each connecting connection holds, and their sum. */
  private readonly connectingBytes = new Map<ClientConnection, number>();
  private connectingTotal = 0;
  /** Connections admitted (each holds one of `maxClients` slots). */
  private readonly admitted = new Set<ClientConnection>();
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
  constructor(readonly manager: Manager, private readonly settings: ServiceSettings) {
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    manager.subscribe((event) => {
      if (event.type === 'gave-up') this.end({ reason: 'gave-up', message: event.reason });
      if (this.subscribers.size > 0) this.fanOut(event);
    });
  }

  /** The front door's limits in force (given ones, defaults for the rest). */
  get limits(): Readonly<Required<ServiceLimits>> {
    const { socket: _socket, driverTimeouts: _timeouts, ...limits } = this.settings;
    return limits;
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
    const { maxClients, maxConnecting } = this.settings;
    this.listener = await listenOnSocket(this.settings.socket, (socket: Socket) => {
      if (!this.accepting) {
        socket.destroy();
        return;
      }
      // Room for the newcomer: the connection that has waited longest for a first message goes.
      // Silent or dribbling sockets thus cannot lock out a client that speaks at once.
      if (this.connecting.size >= maxConnecting) {
        const oldest = this.connecting.values().next().value!;
        oldest.evict(`closed to make room for a newer connection: ${maxConnecting} connections were waiting for a first message (maxConnecting)`);
      }
      const connection = new ClientConnection(socket, host);
      this.connections.add(connection);
      this.connecting.add(connection);
    }, {
      // A last bound on descriptors, past the slots above: evicted sockets close at once, and
      // closing ones within the close grace.
      maxConnections: 2 * (maxClients + maxConnecting),
      backlog: maxConnecting,
    });
  }

  /** A connection sent its first complete message: it takes a client slot, or the quietest idle client's. */
  private admit(connection: ClientConnection): boolean {
    this.forgetConnecting(connection);
    if (this.admitted.size >= this.settings.maxClients) {
      let quietest: ClientConnection | undefined;
      for (const other of this.admitted) {
        const since = other.idleSince;
        if (since !== undefined && (quietest === undefined || since < quietest.idleSince!)) quietest = other;
      }
      if (quietest === undefined) return false;
      void quietest.end();
    }
    this.admitted.add(connection);
    return true;
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

  /** Over the shared budget of connecting connections, the one holding the most bytes goes. */
  private buffering(connection: ClientConnection, bytes: number): void {
    this.connectingTotal += bytes - (this.connectingBytes.get(connection) ?? 0);
    this.connectingBytes.set(connection, bytes);
    const budget = this.settings.maxConnectingBytes;
    while (this.connectingTotal > budget) {
      let largest = connection;
      for (const [other, held] of this.connectingBytes) if (held > this.connectingBytes.get(largest)!) largest = other;
      largest.evict(`closed: connections waiting for a first message held more than ${budget} bytes of unfinished frames (maxConnectingBytes)`);
    }
  }

  private forgetConnecting(connection: ClientConnection): void {
    this.connecting.delete(connection);
    this.connectingTotal -= this.connectingBytes.get(connection) ?? 0;
    this.connectingBytes.delete(connection);
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
      maxInFlight: this.settings.maxInFlightPerClient,
      headerTimeoutMs: this.settings.headerTimeoutMs,
      idleTimeoutMs: this.settings.idleTimeoutMs,
      minTimeoutMs: this.settings.minTimeoutMs,
      maxTimeoutMs: this.settings.maxTimeoutMs,
      driverTimeoutMs: (driver) => this.settings.driverTimeouts.get(driver),
      admit: (connection) => this.admit(connection),
      buffering: (connection, bytes) => this.buffering(connection, bytes),
      released: (connection) => {
        this.forgetConnecting(connection);
        this.admitted.delete(connection);
        this.subscribers.delete(connection);
      },
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
        this.forgetConnecting(connection);
        this.admitted.delete(connection);
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
