import { UmdError } from '../errors.js';
import { loadImage } from '../loader/extract.js';
import { sweepStale } from '../loader/sweep.js';
import { spawnHandler } from '../loader/spawn.js';
import { DecodeBudget } from '../protocol/budget.js';
import { SupervisorNode, type SupervisedChild, type TreeEnvironment } from '../../supervisors/tree.js';
import { systemClock, type Clock } from './clock.js';
import { DriverNode, type DriverHost, type LoadedDriver } from './driver-node.js';
import { prepareSandbox } from '../sandbox/index.js';
import type { Driver } from './driver.js';
import { EventHub, ManagerEventStream, validateEventStreamOptions, type EventStreamOptions, type ManagerListener } from './events.js';
import { validateManagerOptions, validateRequestOptions, validateStopOptions, type LaunchWrapper, type ManagerOptions, type RequestOptions, type StopOptions } from './options.js';
import { RequestOwner } from './request-owner.js';
import type { RuntimeSupervisor } from './runtime-tree.js';
import { snapshotTree, type TreeSnapshot } from './snapshot.js';
import type { SupervisorSpec } from './tree-spec.js';
import type { ApiFor, DriverName, ManagedDrivers, MethodName, RequestAnswer, RequestArgs, RequestPayload, UntypedName } from './typed.js';

export type { RuntimeSupervisor } from './runtime-tree.js';

/**
 * Starts a supervision tree of drivers and resolves once every instance has said hello.
 * Rejects with `GAVE_UP` (naming the driver and its last stderr lines) as soon as a child fails
 * its first start (OTP's start_link), or once the start retries asked for with `startIntensity`
 * run out; nothing is left running or on disk then.
 *
 * @example
 * ```ts
 * const manager = await createManager({
 *   children: [defineDriver({ ...parser, concurrency: 4 })],
 *   strategy: 'one_for_one',
 *   intensity: { maxRestarts: 5, periodMs: 10_000 },
 * });
 * const answer = await manager.request('parser', input, { timeoutMs: 2000 });
 * await manager.stop();
 * ```
 */
export async function createManager<Options extends ManagerOptions>(options: Options): Promise<Manager<ManagedDrivers<Options>>> {
  const { tree, runtimeDir, onEvent, clock, random, launchWrapper } = validateManagerOptions(options);
  const manager = new Manager<ManagedDrivers<Options>>(tree, { runtimeDir, clock: clock ?? systemClock, random: random ?? Math.random, launchWrapper });
  if (onEvent) manager.subscribe(onEvent);
  await manager.start();
  return manager;
}

/**
 * The front door: requests, snapshots, events and shutdown for one supervision tree.
 * Create it with {@link createManager}. `Drivers` (a type only) is what `createManager` inferred of
 * its drivers; `Manager` alone (any drivers) accepts every manager and types nothing.
 */
export class Manager<Drivers = any> {
  private readonly hub = new EventHub();
  private readonly drivers = new Map<string, DriverNode>();
  /** Per driver: bytes of answers held half-read at once, shared by its instances. */
  private readonly decodeBudgets = new Map<string, DecodeBudget>();
  private readonly root: RuntimeSupervisor;
  private readonly owner: RequestOwner;
  private readonly clock: Clock;
  private accepting = true;
  private gaveUpReason: string | undefined;
  private stopping: Promise<void> | undefined;

  /** @internal use {@link createManager}. */
  constructor(tree: SupervisorSpec, private readonly config: { runtimeDir: string | undefined; clock: Clock; random: () => number; launchWrapper?: LaunchWrapper | undefined }) {
    this.clock = config.clock;
    this.owner = new RequestOwner(this.clock, this.hub);
    const host: DriverHost = {
      clock: this.clock,
      hub: this.hub,
      owner: this.owner,
      load: (driver) => this.load(driver),
      spawn: (driver, loaded, instance, generation, signal) =>
        spawnHandler(loaded.image, {
          launch: config.launchWrapper === undefined
            ? loaded.sandbox.launch
            : (plan) => config.launchWrapper!(loaded.sandbox.launch(plan), { driver: driver.name, instance: instance.id, generation }),
          driver: driver.name,
          instance: instance.id,
          generation,
          startTimeoutMs: driver.startTimeoutMs,
          clock: this.clock,
          maxFrameBytes: driver.maxFrameBytes,
          maxDepth: driver.maxDepth,
          maxItems: driver.maxItems,
          decodeBudget: this.decodeBudgetOf(driver),
          env: driver.env,
          args: driver.args,
          onLog: (entry) => {
            if (this.hub.active) this.hub.emit({ type: 'log', ...entry, at: this.clock.now() });
          },
        }, signal),
    };
    const env: TreeEnvironment = {
      now: () => this.clock.now(),
      random: config.random,
      // Delayed restarts of supervisors and group restarts: work under way, kept alive like a backoff.
      setTimeout: (fn, ms) => this.clock.setTimeout(fn, ms, { keepAlive: true }),
      clearTimeout: (handle) => this.clock.clearTimeout(handle),
      onRestart: (event) => this.hub.emit({ type: 'restart', ...event }),
      onEscalate: (event) => this.hub.emit({ type: 'escalate', ...event }),
    };
    const build = (spec: SupervisorSpec, isRoot: boolean): RuntimeSupervisor => {
      const children: RuntimeSupervisor['children'] = [];
      const supervised: SupervisedChild[] = [];
      for (const child of spec.children) {
        if (child.kind === 'supervisor') {
          const sub = build(child, false);
          children.push({ supervisor: sub });
          supervised.push(sub.node);
        } else {
          const node = new DriverNode(child, host);
          this.drivers.set(child.name, node);
          this.owner.addRoute(node);
          children.push({ driver: node });
          supervised.push(...node.instances);
        }
      }
      const node = new SupervisorNode(spec, supervised, env, isRoot ? (reason) => this.gaveUp(reason) : undefined);
      return { spec, node, children };
    };
    this.root = build(tree, true);
  }

  /** The driver's one decode budget, shared by all its instances (frame bytes held half-read at once). */
  private decodeBudgetOf(driver: Driver): DecodeBudget {
    let budget = this.decodeBudgets.get(driver.name);
    if (budget === undefined) this.decodeBudgets.set(driver.name, (budget = new DecodeBudget(driver.decodeBudgetBytes)));
    return budget;
  }

  /**
   * Extracts a driver's image and prepares its sandbox. A sandbox the host cannot provide fails
   * the load (SANDBOX) — nothing is left extracted — unless the driver chose best effort, in which
   * case what was dropped is reported as an event.
   */
  private async load(driver: Driver): Promise<LoadedDriver> {
    const image = await loadImage(driver.name, driver.image, { root: this.config.runtimeDir, publicKeys: driver.sandbox.publicKeys });
    try {
      const sandbox = await prepareSandbox(driver.sandbox, { kind: image.image.kind, dir: image.dir, file: image.file });
      if (sandbox.dropped.length > 0) {
        this.hub.emit({ type: 'sandbox', driver: driver.name, dropped: sandbox.dropped.map((d) => d.layer), reason: sandbox.reason ?? 'dropped', at: this.clock.now() });
      }
      return { image, sandbox };
    } catch (err) {
      await image.unload();
      throw err;
    }
  }

  /** @internal */
  async start(): Promise<void> {
    try {
      await sweepStale(this.config.runtimeDir);
    } catch {
      // Sweeping is housekeeping: a failure to sweep must not stop a service from starting.
    }
    // Load every image first: a pinned digest or signature that does not match is the same at
    // every attempt, so it fails the start at once (INTEGRITY, naming both digests) rather than
    // after the start intensity's worth of retries. Other load failures are left to the tree's
    // start, which retries them (a root made writable again, a sandbox probe).
    const integrity = await this.preload();
    if (integrity !== undefined) {
      await this.settleStop();
      throw integrity;
    }
    try {
      await this.root.node.start();
    } catch (err) {
      await this.settleStop();
      const reason = this.gaveUpReason ?? (err as Error).message;
      throw new UmdError('GAVE_UP', `the supervision tree could not start: ${reason}`, { reason });
    }
    if (this.gaveUpReason !== undefined) {
      await this.settleStop();
      throw new UmdError('GAVE_UP', `the supervision tree could not start: ${this.gaveUpReason}`, { reason: this.gaveUpReason });
    }
  }

  /** Loads every driver's image; returns the first INTEGRITY failure, if any. */
  private async preload(): Promise<UmdError | undefined> {
    const loads = await Promise.allSettled([...this.drivers.values()].map((node) => node.ensureLoaded()));
    for (const load of loads) {
      if (load.status === 'rejected' && load.reason instanceof UmdError && load.reason.code === 'INTEGRITY') return load.reason;
    }
    return undefined;
  }

  /**
   * An explicit answer type, taken on trust as before drivers were typed: only for a driver nobody
   * typed. (Declared first: tsc explains a misuse by the last signature, the typed one below.)
   */
  request<T = unknown>(driver: UntypedName<Drivers>, payload: unknown, options?: RequestOptions): Promise<T>;
  /**
   * Sends `payload` to the driver named `driver` and resolves with its validated answer. Rejects
   * with a `UmdError` whose code says why (QUEUE_FULL, TIMEOUT, HANDLER_CRASHED, HANDLER_ERROR,
   * INVALID_RESPONSE, PROTOCOL, ABORTED, STOPPED, GAVE_UP, and BAD_REQUEST for the caller's own
   * mistake: an unknown driver, a payload the protocol refuses). Settles exactly once, always.
   * A deadline (`timeoutMs`) or an abort fails this request alone: its handler is sent a `cancel`
   * and goes on serving the others.
   * Typed by the drivers `createManager` was given: the name, the method (required for a handler's
   * map of methods, none for one function), the payload, and the answer (`validate`'s output when
   * it has one); a driver nobody typed takes anything and answers `unknown`.
   *
   * @example
   * ```ts
   * const controller = new AbortController();
   * const result = await manager.request('parser', bytes, { method: 'parse', timeoutMs: 1000, signal: controller.signal, idempotent: true });
   * ```
   */
  request<Name extends DriverName<Drivers>, Method extends MethodName<ApiFor<Drivers, Name>>>(driver: Name, payload: RequestPayload<ApiFor<Drivers, Name>, Method>, ...options: RequestArgs<ApiFor<Drivers, Name>, Method>): Promise<RequestAnswer<ApiFor<Drivers, Name>, Method>>;
  request(driver: string, payload: unknown, options?: RequestOptions): Promise<unknown> {
    const node = this.drivers.get(driver);
    if (node === undefined) return Promise.reject(this.unknownDriver(driver));
    let opts: ReturnType<typeof validateRequestOptions>;
    try {
      opts = validateRequestOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    const name = node.driver.name;
    if (this.gaveUpReason !== undefined) {
      return Promise.reject(new UmdError('GAVE_UP', `the supervision tree gave up: ${this.gaveUpReason}`, { driver: name, reason: this.gaveUpReason }));
    }
    if (!this.accepting) return Promise.reject(new UmdError('STOPPED', `manager is stopping; request to "${name}" refused`, { driver: name }));
    if (node.retired) {
      return Promise.reject(new UmdError('STOPPED', `driver "${name}" has no instance left (its ${node.driver.restart} handler exited and is not restarted)`, { driver: name }));
    }
    if (opts.signal?.aborted) {
      return Promise.reject(new UmdError('ABORTED', `request to "${name}" aborted before it was sent`, { driver: name, reason: String(opts.signal.reason) }));
    }
    if (node.queue.length >= node.driver.maxQueue) {
      return Promise.reject(new UmdError('QUEUE_FULL', `queue of "${name}" is full (maxQueue ${node.driver.maxQueue})`, { driver: name }));
    }
    const timeoutMs = opts.timeoutMs ?? node.driver.requestTimeoutMs;
    return this.owner.accept(node, opts.method, payload, timeoutMs, opts.idempotent, opts.signal);
  }

  /** The caller named a driver this tree does not have: their mistake (BAD_REQUEST). */
  private unknownDriver(driver: string): UmdError {
    const known = [...this.drivers.keys()].map((n) => JSON.stringify(n)).join(', ');
    return new UmdError('BAD_REQUEST', `driver must be one of ${known}, got ${JSON.stringify(driver)}`, { reason: 'unknown-driver' });
  }

  /**
   * The whole tree right now: supervisors, drivers and instances with state, pid, generation,
   * restarts, queued and in-flight counts.
   *
   * @example
   * ```ts
   * for (const driver of manager.snapshot().children) console.log(driver.name, driver.state, driver.queued);
   * ```
   */
  snapshot(): TreeSnapshot {
    return snapshotTree(this.root, this.gaveUpReason);
  }

  /**
   * Calls `listener` for every lifecycle and request event; returns the unsubscribe function.
   *
   * @example
   * ```ts
   * const off = manager.subscribe((e) => { if (e.type === 'restart') console.log(e.child, e.reason); });
   * off();
   * ```
   */
  subscribe(listener: ManagerListener): () => void {
    return this.hub.subscribe(listener);
  }

  /**
   * The same events as an async iterable with a bounded buffer (oldest dropped and counted in
   * `stream.dropped` when a reader falls behind). It ends after the `stopped` event; created
   * after the manager stopped, it is empty.
   *
   * @example
   * ```ts
   * for await (const event of manager.events({ bufferSize: 256 })) {
   *   if (event.type === 'state') console.log(event.instance, event.from, '->', event.to);
   * }
   * ```
   */
  events(options?: EventStreamOptions): ManagerEventStream {
    const { bufferSize } = validateEventStreamOptions(options);
    return new ManagerEventStream((listener) => this.hub.subscribe(listener), bufferSize, this.finished);
  }

  /**
   * Unloads a driver's image and loads it again (the kernel selftest's rmmod + on-demand reload):
   * the extracted directory is removed, each instance says bye (finishing its in-flight work) and
   * starts again from a freshly extracted, re-verified image. Queued requests wait and are served.
   *
   * @example
   * ```ts
   * await manager.reload('sample');
   * await manager.request('sample', '0'); // answered by a handler from the new extraction
   * ```
   */
  async reload(driver: string): Promise<void> {
    const node = this.drivers.get(driver);
    if (node === undefined) throw this.unknownDriver(driver);
    await node.reload();
  }

  /**
   * Stops gracefully: refuses new requests, lets queued and in-flight ones finish for up to
   * `drainMs` (default 5000; 0 = reject them at once with STOPPED), says `bye` to every handler,
   * waits its `shutdownMs`, SIGKILLs the group, and removes every extracted image. When an image
   * directory cannot be removed (an unwritable root) it rejects with `SPAWN` naming it; calling
   * `stop()` again tries the removal again (the processes are gone by then).
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => manager.stop({ drainMs: 10_000 }));
   * ```
   */
  stop(options?: StopOptions): Promise<void> {
    let drainMs: number;
    try {
      drainMs = validateStopOptions(options).drainMs;
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.stopping === undefined) {
      this.stopping = this.shutdown(drainMs);
      return this.stopping;
    }
    // A stop that failed to remove an image is retried by the next call; a finished one is not redone.
    return this.stopping.then(
      () => undefined,
      () => this.settleStop(),
    );
  }

  /** True once the tree gave up or stop() was called. */
  get stopped(): boolean {
    return !this.accepting;
  }

  private async shutdown(drainMs: number): Promise<void> {
    this.accepting = false;
    if (drainMs > 0 && this.owner.pending > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimeout(resolve, drainMs);
        this.owner.onDrained = () => {
          this.clock.clearTimeout(timer);
          resolve();
        };
      });
      this.owner.onDrained = undefined;
    }
    this.rejectAll('STOPPED', 'manager stopped before the request finished');
    await this.settleStop();
  }

  /**
   * Stops every process (once, however often it is asked for), then removes every image: that part
   * runs again after a failure (an image directory that could not be removed), until it succeeds.
   */
  private settleStop(): Promise<void> {
    this.settling ??= (async () => {
      this.accepting = false;
      await this.root.node.stop();
    })();
    this.removing ??= this.settling.then(async () => {
      const closed = await Promise.allSettled([...this.drivers.values()].map((node) => node.close()));
      const failed = closed.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed !== undefined) {
        this.removing = undefined; // the next stop() tries again
        throw failed.reason;
      }
      this.owner.clear();
      this.finished = true;
      this.hub.emit({ type: 'stopped', at: this.clock.now() });
    });
    return this.removing;
  }
  private settling: Promise<void> | undefined;
  private removing: Promise<void> | undefined;
  /** Set just before the `stopped` event: event streams created later end at once. */
  private finished = false;

  private gaveUp(reason: string): void {
    if (this.gaveUpReason !== undefined) return;
    this.gaveUpReason = reason;
    this.accepting = false;
    this.hub.emit({ type: 'gave-up', supervisor: this.root.spec.name, reason, at: this.clock.now() });
    this.rejectAll('GAVE_UP', `the supervision tree gave up: ${reason}`);
    // An image that cannot be removed now is kept; the caller's stop() retries and reports it.
    this.settleStop().catch(() => {});
  }

  private rejectAll(code: 'STOPPED' | 'GAVE_UP', message: string): void {
    const reason = code === 'GAVE_UP' ? this.gaveUpReason : undefined;
    for (const node of this.drivers.values()) this.owner.rejectAll(node.pending(), code, message, reason);
  }
}
