import { createActor, fromPromise, type Actor } from 'xstate';
import { nanoid } from 'nanoid';
import { instanceMachine } from '../../machines/instance.js';
import type { InstanceContext, SpawnInput } from '../../machines/instance-types.js';
import type { ChildExit, SupervisedChild, SupervisorLink } from '../../supervisors/tree.js';
import { isShutdownExit } from '../../supervisors/strategy.js';
import type { HandlerProcess } from '../loader/spawn.js';
import type { ResponseMessage, PongMessage } from '../protocol/messages.js';
import type { PendingRequest } from './pending.js';
import type { DriverNode } from './driver-node.js';

/** Why in-flight requests were lost with their process: they decide retry and poison counting. */
export type LossCause = 'crash' | 'sibling' | 'stop';

/** The facts about a process that ended, as requests that were in flight on it see them. */
export interface ProcessEnd {
  instance: string;
  generation: number;
  pid: number;
  code: number | null;
  signal: string | null;
  stderrTail: string[];
  cause: LossCause;
  /** A fault the manager found before the process died (timeout, heartbeat, protocol). */
  fault: Fault | undefined;
}

/**
 * A fault the manager found in a live handler, and the code its in-flight requests reject with:
 * PROTOCOL for a broken protocol, TIMEOUT for a missed heartbeat, HANDLER_CRASHED otherwise.
 */
export interface Fault {
  reason: string;
  code: 'PROTOCOL' | 'TIMEOUT' | 'HANDLER_CRASHED';
}

type InstanceActor = Actor<typeof instanceMachine>;

/**
 * One handler slot of a driver: its lifecycle actor plus the plain-code request bookkeeping that
 * must not cost a state transition per request (the machine sees only the ready/busy edges).
 */
export class InstanceRuntime implements SupervisedChild {
  readonly id = nanoid(10);
  readonly name: string;
  readonly restartType;
  readonly backoff;
  /** A spare takes no requests until promoted. */
  spare: boolean;
  /** In-flight requests of the current process, by wire id. */
  readonly inFlight = new Map<number, PendingRequest>();
  /** The actor; replaced when a stopped or failed slot is revived by its supervisor. */
  actor!: InstanceActor;
  /** Set while the current process may take requests (ready or busy, and alive). */
  available = false;
  /** Last state the actor reported, for snapshots and edge detection. */
  state = 'extracting';
  proc: HandlerProcess | undefined;
  /** Why the last start failed (SPAWN/PROTOCOL/INTEGRITY/SANDBOX error), for give-up messages. */
  lastStartError: unknown;
  lastExit: { code: number | null; signal: string | null; reason: string; at: number } | undefined;

  private parent: SupervisorLink | undefined;
  private nextWireId = 1;
  /** Wire ids the caller gave up on: a late answer for one is expected, not a protocol violation. */
  private readonly cancelled = new Set<number>();
  private machineBusy = false;
  private idleCheckScheduled = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private awaitingPong = false;
  private pingId = 0;
  private terminating: LossCause | undefined;
  private fault: Fault | undefined;
  private generationBase = 0;
  private readyWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(private readonly node: DriverNode, spare: boolean) {
    this.name = node.driver.name;
    this.restartType = node.driver.restart;
    this.backoff = node.driver.backoff;
    this.spare = spare;
    this.createActor();
  }

  link(parent: SupervisorLink): void {
    this.parent = parent;
  }

  /**
   * Starts the actor (first start, revival, or the release of a slot held by `terminate`) and
   * resolves once the instance is ready.
   */
  start(): Promise<void> {
    const waiting = this.whenReady();
    if (this.actor.getSnapshot().status === 'done' || this.state === 'failed') this.revive();
    else if (!this.actorStarted) {
      this.actorStarted = true;
      this.actor.start();
    } else if (this.state === 'backoff' && this.actor.getSnapshot().context.held) {
      this.actor.send({ type: 'RESTART', delayMs: 0 });
    }
    return waiting;
  }

  /** A slot its supervisor had stopped: a fresh actor, generations continuing upwards. */
  private revive(): void {
    this.generationBase = Math.max(this.generationBase, this.actor.getSnapshot().context.generation);
    this.retired = false;
    this.createActor();
    this.actorStarted = true;
    this.actor.start();
  }

  /** Terminates the process (if any) and holds the slot in backoff until `start()` (a group restart). */
  terminate(cause: 'crash' | 'sibling'): Promise<void> {
    if (!this.actorStarted || this.actor.getSnapshot().status !== 'active' || this.state === 'failed') return Promise.resolve();
    if (cause === 'sibling' && (this.state === 'ready' || this.state === 'busy' || this.state === 'spawning')) {
      this.terminating = 'sibling';
    }
    this.actor.send({ type: 'RESTART', delayMs: 0, hold: true });
    return this.whenState((state) => state === 'backoff' || state === 'failed' || state === 'stopped');
  }

  /** Resolves once the actor is in a state `reached` accepts (at once if it is already). */
  private whenState(reached: (state: string) => boolean): Promise<void> {
    return new Promise((resolve) => {
      if (reached(this.state)) return resolve();
      const sub = this.actor.subscribe((snapshot) => {
        if (!reached(String(snapshot.value))) return;
        sub.unsubscribe();
        resolve();
      });
    });
  }

  /** Resolves on the next `ready`; rejects if the slot fails or stops first. */
  whenReady(): Promise<void> {
    if (this.state === 'ready' || this.state === 'busy') return Promise.resolve();
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  restart(delayMs: number, cause: 'crash' | 'sibling'): void {
    if (this.actor.getSnapshot().status === 'done' || this.state === 'failed') {
      this.revive();
      return;
    }
    if (cause === 'sibling' && (this.state === 'ready' || this.state === 'busy' || this.state === 'spawning')) {
      this.terminating = 'sibling';
    }
    this.actor.send({ type: 'RESTART', delayMs });
  }

  /** Never started again: left down after its exit, or terminated (a temporary sibling of a group restart). */
  async retire(): Promise<void> {
    this.retired = true;
    if (this.actor.getSnapshot().status !== 'active' || !this.actorStarted) {
      this.node.refuseQueuedIfRetired();
      return;
    }
    if (this.state === 'crashed') {
      this.actor.send({ type: 'RETIRE' });
      return;
    }
    // Its in-flight requests go back to the driver's queue like a sibling's (idempotent ones are
    // retried elsewhere; the rest are refused once no instance is left).
    if (this.state === 'ready' || this.state === 'busy' || this.state === 'spawning') this.terminating = 'sibling';
    await this.stopActor();
  }

  /** True once its supervisor decided never to restart it (temporary, or transient after a normal exit). */
  retired = false;

  giveUp(reason: string): void {
    this.actor.send({ type: 'GIVE_UP', reason });
  }

  async stop(): Promise<void> {
    const snapshot = this.actor.getSnapshot();
    if (snapshot.status !== 'active') return;
    this.terminating = 'stop';
    await this.stopActor();
  }

  private async stopActor(): Promise<void> {
    const done = new Promise<void>((resolve) => {
      const sub = this.actor.subscribe({ complete: () => { sub.unsubscribe(); resolve(); } });
      if (this.actor.getSnapshot().status !== 'active') resolve();
    });
    this.actor.send({ type: 'STOP' });
    await done;
  }

  /** Sends one request on this instance's current process. The caller checked `available`. */
  send(request: PendingRequest): void {
    const proc = this.proc!;
    const wireId = this.nextWireId++;
    request.wireId = wireId;
    request.instance = this;
    this.inFlight.set(wireId, request);
    try {
      proc.send(request.method === undefined
        ? { t: 'req', id: wireId, p: request.payload }
        : { t: 'req', id: wireId, m: request.method, p: request.payload });
    } catch (err) {
      // The caller's own payload cannot be encoded: their fault, not the handler's.
      this.inFlight.delete(wireId);
      request.wireId = 0;
      request.instance = undefined;
      request.fail('PROTOCOL', `request payload cannot be sent to "${this.name}": ${(err as Error).message}`, { reason: 'UNENCODABLE' });
      return;
    }
    if (!this.machineBusy) {
      this.machineBusy = true;
      this.actor.send({ type: 'BUSY', generation: proc.generation });
      this.startHeartbeat(proc);
    }
  }

  /** The caller gave up on an in-flight request (abort): forget it, tell the handler best-effort. */
  cancel(request: PendingRequest): void {
    const wireId = request.wireId;
    if (wireId === 0 || this.inFlight.get(wireId) !== request) return;
    this.inFlight.delete(wireId);
    request.wireId = 0;
    const proc = this.proc;
    if (proc?.alive) {
      this.cancelled.add(wireId);
      proc.send({ t: 'cancel', id: wireId });
    }
    this.afterAnswer();
  }

  /**
   * The handler is presumed hung or compromised (deadline, heartbeat, protocol, invalid answer):
   * the machine goes to crashed and kills the process; requests in flight are settled on exit.
   */
  markFaulty(reason: string, proc: HandlerProcess | undefined = this.proc, code: Fault['code'] = 'HANDLER_CRASHED'): void {
    if (proc === undefined || proc !== this.proc || this.fault !== undefined) return;
    this.fault = { reason, code };
    this.available = false;
    this.node.hub.emit({ type: 'fault', driver: this.name, instance: this.id, generation: proc.generation, reason, at: this.node.clock.now() });
    this.actor.send({ type: 'FAULT', generation: proc.generation, reason });
  }

  /** Requests in flight right now (for routing and snapshots). */
  get load(): number {
    return this.inFlight.size;
  }

  /** xstate reports an unstarted actor as 'active', so whether it runs is tracked here. */
  private actorStarted = false;

  private createActor(): void {
    this.actorStarted = false;
    const machine = instanceMachine.provide({
      actors: {
        extract: fromPromise(async () => {
          await this.node.ensureLoaded();
        }),
        spawn: fromPromise(async ({ input, signal }: { input: SpawnInput; signal: AbortSignal }) => {
          let proc: HandlerProcess;
          try {
            proc = await this.node.spawn(this, input.generation, signal);
          } catch (err) {
            this.lastStartError = err;
            throw err;
          }
          if (signal.aborted) {
            proc.kill('SIGKILL');
            throw new Error('start aborted');
          }
          this.attach(proc);
          return { pid: proc.pid, at: this.node.clock.now() };
        }),
        terminate: fromPromise(async () => {
          const proc = this.proc;
          if (proc === undefined || !proc.alive) return;
          const shutdown = this.node.driver.shutdownMs;
          await proc.terminate(shutdown);
          await this.exitHandled(proc);
        }),
      },
      actions: {
        kill: (_: unknown, params: { generation: number }) => {
          if (this.proc?.generation === params.generation) this.proc.kill('SIGKILL');
        },
        reportCrash: ({ context }: { context: InstanceContext }) => this.reportCrash(context),
      },
    });
    this.actor = createActor(machine, {
      input: { driver: this.name, instance: this.id, generation: this.generationBase },
    });
    let previous = this.state;
    this.actor.subscribe((snapshot) => {
      const next = String(snapshot.value);
      if (next === previous) return;
      const from = previous;
      previous = next;
      this.onState(from, next, snapshot.context);
    });
  }

  private onState(from: string, to: string, context: InstanceContext): void {
    this.state = to;
    this.available = (to === 'ready' || to === 'busy') && this.proc !== undefined && this.proc.alive && this.fault === undefined;
    if (to === 'ready' && from !== 'busy') {
      // Reached ready from a start: the supervisor's backoff sees a stable start; waiters go on.
      this.parent?.childStarted(this, this.node.clock.now());
      for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
    }
    if (to === 'failed' || to === 'stopped') {
      const error = new Error(`instance ${this.id} of "${this.name}" ${to} before it was ready${this.lastExit ? ` (last: ${this.lastExit.reason})` : ''}`);
      for (const waiter of this.readyWaiters.splice(0)) waiter.reject(error);
    }
    this.node.onInstanceState(this, from, to, context);
  }

  private attach(proc: HandlerProcess): void {
    this.proc = proc;
    this.fault = undefined;
    this.terminating = undefined;
    this.machineBusy = false;
    this.awaitingPong = false;
    proc.onMessage = (message) => this.onMessage(proc, message);
    proc.onFault = (error) => this.markFaulty(`protocol: ${error.message}`, proc, 'PROTOCOL');
    void this.exitHandled(proc);
    this.node.hub.emit({ type: 'spawn', driver: this.name, instance: this.id, generation: proc.generation, pid: proc.pid, at: this.node.clock.now() });
  }

  /** One promise per process: the exit is handled exactly once, whoever waits for it. */
  private readonly exits = new WeakMap<HandlerProcess, Promise<void>>();
  private exitHandled(proc: HandlerProcess): Promise<void> {
    let handled = this.exits.get(proc);
    if (handled === undefined) {
      handled = proc.exited.then((exit) => this.onExit(proc, exit));
      this.exits.set(proc, handled);
    }
    return handled;
  }

  private onExit(proc: HandlerProcess, exit: { code: number | null; signal: string | null; stderrTail: string[] }): void {
    const current = proc === this.proc;
    const at = this.node.clock.now();
    this.node.hub.emit({ type: 'exit', driver: this.name, instance: this.id, generation: proc.generation, pid: proc.pid, code: exit.code, signal: exit.signal, at });
    if (!current) return;
    this.proc = undefined;
    this.available = false;
    this.stopHeartbeat();
    const fault = this.fault;
    this.lastExit = { code: exit.code, signal: exit.signal, reason: fault?.reason ?? describeExit(exit), at };
    const end: ProcessEnd = {
      instance: this.id,
      generation: proc.generation,
      pid: proc.pid,
      code: exit.code,
      signal: exit.signal,
      stderrTail: exit.stderrTail,
      cause: this.terminating ?? 'crash',
      fault,
    };
    const lost = [...this.inFlight.values()];
    this.inFlight.clear();
    this.cancelled.clear();
    this.machineBusy = false;
    // Settle (or requeue) what was in flight before the machine moves on, so a restart never
    // races the requests of the process it replaces.
    this.node.onRequestsLost(lost, end);
    this.actor.send({ type: 'EXIT', generation: proc.generation, code: exit.code, signal: exit.signal });
  }

  private onMessage(proc: HandlerProcess, message: ResponseMessage | PongMessage): void {
    if (proc !== this.proc) return;
    if (message.t === 'pong') {
      this.awaitingPong = false;
      return;
    }
    const request = this.inFlight.get(message.id);
    if (request === undefined) {
      if (this.cancelled.delete(message.id)) return;
      this.markFaulty(`protocol: answer for unknown or already answered id ${message.id}`, proc, 'PROTOCOL');
      return;
    }
    this.inFlight.delete(message.id);
    request.wireId = 0;
    this.afterAnswer();
    this.node.deliver(request, message, this, proc);
  }

  /** After an in-flight request left: maybe the idle edge, and room for queued work. */
  private afterAnswer(): void {
    if (this.inFlight.size === 0 && this.machineBusy && !this.idleCheckScheduled) {
      // Debounced: a caller that sends its next request as soon as it gets an answer keeps the
      // instance busy, and the machine never sees a ready/busy flip per request. At most one check
      // is pending at a time, and it is one preallocated function.
      this.idleCheckScheduled = true;
      setImmediate(this.idleCheck);
    }
  }

  /** The debounced idle edge: only if nothing is in flight once this turn of the loop is done. */
  private readonly idleCheck = (): void => {
    this.idleCheckScheduled = false;
    const proc = this.proc;
    if (this.inFlight.size === 0 && this.machineBusy && proc !== undefined) {
      this.machineBusy = false;
      this.stopHeartbeat();
      this.actor.send({ type: 'IDLE', generation: proc.generation });
    }
  };

  private startHeartbeat(proc: HandlerProcess): void {
    const every = this.node.driver.heartbeatMs;
    if (every === false || this.heartbeat !== undefined) return;
    this.awaitingPong = false;
    this.heartbeat = setInterval(() => {
      if (proc !== this.proc) return this.stopHeartbeat();
      if (this.awaitingPong) {
        this.markFaulty(`heartbeat: no pong within ${every} ms`, proc, 'TIMEOUT');
        return;
      }
      this.awaitingPong = true;
      proc.send({ t: 'ping', id: ++this.pingId });
    }, every);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.awaitingPong = false;
  }

  private reportCrash(context: InstanceContext): void {
    const last = context.lastExit;
    if (last === null || this.parent === undefined) return;
    // OTP's normal (exit 0) or shutdown (SIGTERM, 143): a transient child stays down after either.
    const normal = last.phase === 'service' && this.fault === undefined && ((last.code === 0 && last.signal === null) || isShutdownExit(last));
    const reason = last.phase === 'start' ? last.reason : (this.lastExit?.reason ?? last.reason);
    const exit: ChildExit = { normal, phase: last.phase, reason, at: this.node.clock.now() };
    this.node.onInstanceCrashed(this);
    this.parent.childExited(this, exit);
  }
}

function describeExit(exit: { code: number | null; signal: string | null }): string {
  return exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}
