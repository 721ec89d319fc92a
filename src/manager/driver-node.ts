import { UmdError } from '../errors.js';
import type { InstanceContext } from '../../machines/instance-types.js';
import type { LoadedImage } from '../loader/extract.js';
import type { PreparedSandbox } from '../sandbox/index.js';
import type { HandlerProcess } from '../loader/spawn.js';
import type { ResponseMessage } from '../protocol/messages.js';
import type { Clock } from './clock.js';
import type { Driver } from './driver.js';
import type { EventHub } from './events.js';
import { InstanceRuntime, type InstanceHost } from './instance.js';
import type { PendingRequest } from './pending.js';
import { RequestQueue } from './queue.js';
import type { AnswerSource, ProcessEnd, RequestOwner, RequestRoute } from './request-owner.js';

/** What a driver node needs from the manager that owns it. */
export interface DriverHost {
  readonly clock: Clock;
  readonly hub: EventHub;
  /** Settles requests: the node routes them and reports what became of them, nothing more. */
  readonly owner: RequestOwner;
  /** Extracts the image and prepares its sandbox (once per load; every start reuses both). */
  load(driver: Driver): Promise<LoadedDriver>;
  spawn(driver: Driver, loaded: LoadedDriver, instance: InstanceRuntime, generation: number, signal: AbortSignal): Promise<HandlerProcess>;
}

/** An extracted image and the sandbox planned for it. */
export interface LoadedDriver {
  image: LoadedImage;
  sandbox: PreparedSandbox;
}

/**
 * One driver in the tree: its bounded queue, its instances (active ones and warm spares), and the
 * routing between them. Requests wait here — not on an instance — so that work queued during a
 * restart simply goes to whichever instance is ready next. What becomes of a request (answered,
 * lost, refused) is passed on to the request owner, which alone settles it.
 */
export class DriverNode implements InstanceHost, RequestRoute {
  readonly instances: InstanceRuntime[] = [];
  readonly queue = new RequestQueue();
  private loading: Promise<LoadedDriver> | undefined;
  /** Layers in force for the current load (for snapshots); undefined before the first load. */
  sandboxLayers: string[] | undefined;

  constructor(readonly driver: Driver, private readonly host: DriverHost) {
    for (let i = 0; i < driver.instances + driver.spares; i++) {
      this.instances.push(new InstanceRuntime(this, i >= driver.instances));
    }
  }

  get clock(): Clock {
    return this.host.clock;
  }

  get hub(): EventHub {
    return this.host.hub;
  }

  /** The extracted image, loaded on first need (and again after an unload). */
  ensureLoaded(): Promise<LoadedDriver> {
    if (this.closed) return Promise.reject(new Error(`driver "${this.driver.name}" is closed: the manager stopped`));
    this.loading ??= this.host.load(this.driver).then(
      (loaded) => {
        this.sandboxLayers = loaded.sandbox.inForce;
        return loaded;
      },
      (err) => {
        this.loading = undefined; // a failed load is retried by the next start, not cached
        throw err;
      },
    );
    return this.loading;
  }

  /** Set by the manager's final stop: no load may start after it (it would outlive the unload). */
  private closed = false;

  /** The final unload: removes the image and refuses every later load. */
  close(): Promise<void> {
    this.closed = true;
    return this.unload();
  }

  /**
   * Images whose directory could not be removed (say the extraction root was made unwritable).
   * Kept, never forgotten on disk: every later unload — the next reload, the final stop — tries again.
   */
  private readonly unremoved = new Set<LoadedImage>();

  /**
   * Removes the extracted image (the kernel's rmmod); the next start loads it again. Rejects with
   * `SPAWN` naming the directory and the OS error when it cannot be removed; the image is then
   * kept for the next unload to retry.
   */
  async unload(): Promise<void> {
    const loading = this.loading;
    this.loading = undefined;
    const loaded = loading === undefined ? undefined : await loading.catch(() => undefined);
    if (loaded !== undefined) this.unremoved.add(loaded.image);
    let failure: { image: LoadedImage; cause: unknown } | undefined;
    for (const image of [...this.unremoved]) {
      try {
        await image.unload();
        this.unremoved.delete(image);
      } catch (cause) {
        failure ??= { image, cause };
      }
    }
    if (failure !== undefined) {
      const { image, cause } = failure;
      const code = (cause as NodeJS.ErrnoException).code ?? 'error';
      // Node's message names the OS error and the call ("EPERM: operation not permitted, rmdir '...'").
      const why = cause instanceof Error ? cause.message : String(cause);
      const more = this.unremoved.size > 1 ? ` (and ${this.unremoved.size - 1} more image director${this.unremoved.size > 2 ? 'ies' : 'y'})` : '';
      throw new UmdError(
        'SPAWN',
        `cannot remove the image directory ${image.dir} of driver "${this.driver.name}"${more}: ${why}; kept, the next unload or stop tries again`,
        { driver: this.driver.name, reason: code, dir: image.dir },
        { cause },
      );
    }
  }

  async spawn(instance: InstanceRuntime, generation: number, signal: AbortSignal): Promise<HandlerProcess> {
    const loaded = await this.ensureLoaded();
    return this.host.spawn(this.driver, loaded, instance, generation, signal);
  }

  /**
   * Unload, then restart every instance from a fresh extraction (they finish in-flight work first).
   * When the old image cannot be removed it rejects (`SPAWN`) before restarting anything: the
   * running instances go on serving.
   */
  async reload(): Promise<void> {
    await this.unload();
    // Only what serves: an instance its supervisor retired or gave up on stays down.
    const serving = this.instances.filter((instance) => !instance.retired && instance.state !== 'failed');
    const ready = serving.map((instance) => {
      instance.restart(0, 'sibling');
      return instance.whenReady();
    });
    await Promise.all(ready);
  }

  /** Accepts a request into the queue (the caller checked capacity) and sends what can be sent. */
  enqueue(request: PendingRequest): void {
    if (this.queue.length === 0) {
      // Nothing waits ahead of it: straight to an instance when one has room (FIFO holds, and the
      // queue is not touched on the hot path).
      const instance = this.pick();
      if (instance !== undefined) {
        instance.send(request);
        return;
      }
    }
    this.queue.push(request);
    this.dispatch();
  }

  /** The least-loaded instance that may take one more request now, if any. */
  private pick(): InstanceRuntime | undefined {
    const concurrency = this.driver.concurrency;
    let best: InstanceRuntime | undefined;
    for (const instance of this.instances) {
      if (!instance.available || instance.spare || instance.load >= concurrency) continue;
      if (best === undefined || instance.load < best.load) best = instance;
    }
    return best;
  }

  /** Sends queued requests to the least-loaded available instances, up to `concurrency` each. */
  dispatch(): void {
    while (this.queue.length > 0) {
      const best = this.pick();
      if (best === undefined) return;
      best.send(this.queue.shift()!);
    }
  }

  /** InstanceHost: the handler answered `request`; the owner settles it, and its slot is free. */
  answered(request: PendingRequest, message: ResponseMessage, source: AnswerSource, generation: number): void {
    this.host.owner.answered(this, request, message, source, generation);
    this.dispatch();
  }

  /** InstanceHost: `request` cannot be written to a handler (its payload); the owner settles it. */
  unsendable(request: PendingRequest, error: Error): void {
    this.host.owner.unsendable(request, error);
  }

  /** InstanceHost: a slot came free (a late answer): send what waits. */
  slotFreed(): void {
    this.dispatch();
  }

  /** InstanceHost: a process ended; what was in flight on it is the owner's to settle or retry. */
  processEnded(lost: PendingRequest[], end: ProcessEnd): void {
    this.host.owner.lost(lost, end);
    this.dispatch();
  }

  /** RequestRoute: back to the front of the queue, in their original order. */
  requeue(requests: PendingRequest[]): void {
    for (let i = requests.length - 1; i >= 0; i--) this.queue.unshift(requests[i]!);
    this.dispatch();
  }

  /** RequestRoute: a queued request settled while waiting. */
  unqueue(request: PendingRequest): void {
    this.queue.remove(request);
  }

  /** InstanceHost: a crashed active instance hands its place to a ready spare, if any (warm spares). */
  crashed(instance: InstanceRuntime): void {
    if (instance.spare) return;
    const spare = this.instances.find((candidate) => candidate.spare && candidate.available);
    if (spare === undefined) return;
    spare.spare = false;
    instance.spare = true;
    this.dispatch();
  }

  stateChanged(instance: InstanceRuntime, from: string, to: string, context: InstanceContext): void {
    this.hub.emit({ type: 'state', driver: this.driver.name, instance: instance.id, generation: context.generation, pid: context.pid, from, to, at: this.clock.now() });
    if (instance.available) this.dispatch();
    else if (to === 'stopped') this.refuseQueuedIfRetired();
  }

  /** InstanceHost: once every instance is retired, nothing will ever serve the queue: say so now rather than let it wait for its deadline. */
  refuseQueuedIfRetired(): void {
    if (this.retired) {
      this.host.owner.rejectAll(this.queue.drain(), 'STOPPED', `driver "${this.driver.name}" has no instance left (its ${this.driver.restart} handler exited and is not restarted)`, undefined);
    }
  }

  /** True when every instance was retired by its supervisor: the driver will never answer again. */
  get retired(): boolean {
    return this.instances.every((instance) => instance.retired);
  }

  /** Requests in flight across all instances. */
  get inFlight(): number {
    let n = 0;
    for (const instance of this.instances) n += instance.load;
    return n;
  }

  /** Every request this node holds (queued or in flight), for give-up and stop. */
  *pending(): Iterable<PendingRequest> {
    yield* this.queue.drain();
    for (const instance of this.instances) yield* instance.inFlight.values();
  }
}
