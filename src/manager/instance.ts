import { createActor, fromPromise, type Actor } from 'xstate';
import { nanoid } from 'nanoid';
import { instanceMachine } from '../../machines/instance.js';
import type { InstanceContext, SpawnInput } from '../../machines/instance-types.js';
import type { ChildExit, SupervisedChild, SupervisorLink } from '../../supervisors/tree.js';
import { isShutdownExit } from '../../supervisors/strategy.js';
import type { HandlerProcess } from '../loader/spawn.js';
import type { ResponseMessage, PongMessage } from '../protocol/messages.js';
import type { Clock } from './clock.js';
import type { Driver } from './driver.js';
import type { EventHub } from './events.js';
import type { Carrier, PendingRequest } from './pending.js';
import type { AnswerSource, Fault, LossCause, ProcessEnd } from './request-owner.js';

/**
 * What an instance needs from the driver that holds it. The instance reports what the pipe said
 * (an answer, a process gone, a slot free) and settles nothing: requests are the owner's.
 */
export interface InstanceHost {
  readonly clock: Clock;
  readonly hub: EventHub;
  readonly driver: Driver;
  /** The extracted image (loaded on first need). */
  ensureLoaded(): Promise<unknown>;
  spawn(instance: InstanceRuntime, generation: number, signal: AbortSignal): Promise<HandlerProcess>;
  /** The handler answered `request`, which is no longer in flight. */
  answered(request: PendingRequest, message: ResponseMessage, source: AnswerSource, generation: number): void;
  /** `request`'s payload cannot be written (the caller's mistake); it was never in flight. */
  unsendable(request: PendingRequest, error: Error): void;
  /** A slot came free without an answer for anyone (a late answer): room for queued work. */
  slotFreed(instance: InstanceRuntime): void;
  /** The process ended with `lost` in flight on it. */
  processEnded(lost: PendingRequest[], end: ProcessEnd): void;
  stateChanged(instance: InstanceRuntime, from: string, to: string, context: InstanceContext): void;
  /** The instance crashed (before its supervisor decides): a spare may take its place. */
  crashed(instance: InstanceRuntime): void;
  /** An instance was retired with no process to stop: if none is left, what waits is refused. */
  refuseQueuedIfRetired(): void;
}

/**
 * A slot whose request the caller stopped waiting for (deadline, abort): it stays taken until the
 * handler answers it (the late answer is dropped and counted) or the process ends. Unanswered
 * `cancelGraceMs` after the cancel, it is stuck.
 */
interface CancelledSlot {
  timer: unknown;
  stuck: boolean;
}

type InstanceActor = Actor<typeof instanceMachine>;

/**
 * One handler slot of a driver: its lifecycle actor plus the plain-code request bookkeeping that
 * must not cost a state transition per request (the machine sees only the ready/busy edges).
 */
export class InstanceRuntime implements SupervisedChild, Carrier, AnswerSource {
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

  /** Answers that came for requests whose caller had stopped waiting (dropped, counted). */
  lateAnswers = 0;

  private parent: SupervisorLink | undefined;
  private nextWireId = 1;
  /** Wire ids the caller gave up on: a late answer for one is expected, not a protocol violation. */
  private readonly cancelled = new Map<number, CancelledSlot>();
  private stuckSlots = 0;
  private machineBusy = false;
  private idleCheckScheduled = false;
  private heartbeat: unknown;
  private awaitingPong = false;
  private pingId = 0;
  private terminating: LossCause | undefined;
  private fault: Fault | undefined;
  private generationBase = 0;
  private readyWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(private readonly host: InstanceHost, spare: boolean) {
    this.name = host.driver.name;
    this.restartType = host.driver.restart;
    this.backoff = host.driver.backoff;
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
      this.host.refuseQueuedIfRetired();
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
    // Never started (the tree's start was refused before it, e.g. a wrong pinned digest): nothing runs.
    if (!this.actorStarted || snapshot.status !== 'active') return;
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
    try {
      proc.send(request.method === undefined
        ? { t: 'req', id: wireId, p: request.payload }
        : { t: 'req', id: wireId, m: request.method, p: request.payload });
    } catch (err) {
      // The caller's own payload cannot be encoded: their fault, not the handler's.
      this.host.unsendable(request, err as Error);
      return;
    }
    request.wireId = wireId;
    request.carrier = this;
    this.inFlight.set(wireId, request);
    if (!this.machineBusy) {
      this.machineBusy = true;
      this.actor.send({ type: 'BUSY', generation: proc.generation });
      this.startHeartbeat(proc);
    }
  }

  /**
   * The caller stopped waiting for an in-flight request (deadline, abort, stop): a `cancel` goes to
   * the handler, and the slot stays taken until the handler answers it or the process ends; past
   * `cancelGraceMs` without an answer it is stuck, and when every slot is stuck the instance is
   * recycled. The handler is not blamed: it is neither killed nor restarted for it.
   */
  withdraw(request: PendingRequest): void {
    const wireId = request.wireId;
    if (wireId === 0 || this.inFlight.get(wireId) !== request) return;
    this.inFlight.delete(wireId);
    request.wireId = 0;
    request.carrier = undefined;
    const proc = this.proc;
    if (proc === undefined || !proc.alive || this.fault !== undefined) {
      this.afterAnswer(); // the process is on its way out: nothing will answer, nothing to hold
      return;
    }
    proc.send({ t: 'cancel', id: wireId });
    const slot: CancelledSlot = { timer: undefined, stuck: false };
    slot.timer = this.host.clock.setTimeout(() => this.graceOver(proc, wireId, slot), this.host.driver.cancelGraceMs);
    this.cancelled.set(wireId, slot);
  }

  /** A cancelled request still unanswered after the grace: its slot is stuck. */
  private graceOver(proc: HandlerProcess, wireId: number, slot: CancelledSlot): void {
    slot.timer = undefined;
    if (proc !== this.proc || this.cancelled.get(wireId) !== slot) return;
    slot.stuck = true;
    this.stuckSlots++;
    const { concurrency, cancelGraceMs } = this.host.driver;
    if (this.stuckSlots >= concurrency) {
      this.recycle('stuck', `every slot stuck: ${this.stuckSlots} cancelled request(s) unanswered ${cancelGraceMs} ms after their cancel`);
    }
  }

  /** Frees the slot of a cancelled request (its late answer came, or the process ended). */
  private release(wireId: number, slot: CancelledSlot): void {
    this.cancelled.delete(wireId);
    if (slot.timer !== undefined) this.host.clock.clearTimeout(slot.timer);
    if (slot.stuck) this.stuckSlots--;
  }

  /**
   * Replaces a live handler that can serve no more (every slot stuck) without blaming it: it takes
   * no new work, gets `bye` and its `shutdownMs`, and a fresh process takes its place. Not a crash:
   * the supervisor is not told, nothing counts toward intensity.
   */
  recycle(cause: 'stuck', reason: string): void {
    const proc = this.proc;
    if (proc === undefined || this.fault !== undefined || this.terminating !== undefined) return;
    this.available = false;
    this.terminating = 'recycle';
    this.stopHeartbeat(); // its liveness no longer matters: it is being replaced either way
    this.host.hub.emit({ type: 'recycle', driver: this.name, instance: this.id, generation: proc.generation, cause, reason, at: this.host.clock.now() });
    this.actor.send({ type: 'RECYCLE', generation: proc.generation, reason });
  }

  /** Slots whose cancelled request is unanswered past its grace. */
  get stuck(): number {
    return this.stuckSlots;
  }

  /** AnswerSource: an answer of `generation` proved the handler untrustworthy. */
  distrust(reason: string, generation: number): void {
    if (this.proc?.generation === generation) this.markFaulty(reason, this.proc);
  }

  /**
   * The handler is presumed hung or compromised (heartbeat, protocol, invalid answer): the machine
   * goes to crashed and kills the process; requests in flight are reported lost on exit.
   */
  markFaulty(reason: string, proc: HandlerProcess | undefined = this.proc, code: Fault['code'] = 'HANDLER_CRASHED'): void {
    if (proc === undefined || proc !== this.proc || this.fault !== undefined) return;
    // Already being terminated (stop, a sibling's restart, a recycle): a fault found now changes
    // nothing — the machine ignores it there — so it is not reported as one either.
    if (this.terminating !== undefined) return;
    this.fault = { reason, code };
    this.available = false;
    this.host.hub.emit({ type: 'fault', driver: this.name, instance: this.id, generation: proc.generation, reason, at: this.host.clock.now() });
    this.actor.send({ type: 'FAULT', generation: proc.generation, reason });
  }

  /** Slots taken right now: requests in flight plus cancelled ones not yet answered (routing, snapshots). */
  get load(): number {
    return this.inFlight.size + this.cancelled.size;
  }

  /** xstate reports an unstarted actor as 'active', so whether it runs is tracked here. */
  private actorStarted = false;

  private createActor(): void {
    this.actorStarted = false;
    const machine = instanceMachine.provide({
      actors: {
        extract: fromPromise(async () => {
          await this.host.ensureLoaded();
        }),
        spawn: fromPromise(async ({ input, signal }: { input: SpawnInput; signal: AbortSignal }) => {
          let proc: HandlerProcess;
          try {
            proc = await this.host.spawn(this, input.generation, signal);
          } catch (err) {
            this.lastStartError = err;
            throw err;
          }
          if (signal.aborted) {
            proc.kill('SIGKILL');
            throw new Error('start aborted');
          }
          this.attach(proc);
          return { pid: proc.pid, at: this.host.clock.now() };
        }),
        terminate: fromPromise(async () => {
          const proc = this.proc;
          if (proc === undefined || !proc.alive) return;
          const shutdown = this.host.driver.shutdownMs;
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
    const clock = this.host.clock;
    this.actor = createActor(machine, {
      input: { driver: this.name, instance: this.id, generation: this.generationBase },
      // The backoff delay runs on the manager's clock, like every other timer.
      clock: { setTimeout: (fn, ms) => clock.setTimeout(fn, ms, { keepAlive: true }), clearTimeout: (handle) => clock.clearTimeout(handle) },
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
      this.parent?.childStarted(this, this.host.clock.now());
      for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
    }
    if (to === 'failed' || to === 'stopped') {
      const error = new Error(`instance ${this.id} of "${this.name}" ${to} before it was ready${this.lastExit ? ` (last: ${this.lastExit.reason})` : ''}`);
      for (const waiter of this.readyWaiters.splice(0)) waiter.reject(error);
    }
    this.host.stateChanged(this, from, to, context);
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
    this.host.hub.emit({ type: 'spawn', driver: this.name, instance: this.id, generation: proc.generation, pid: proc.pid, at: this.host.clock.now() });
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
    const at = this.host.clock.now();
    this.host.hub.emit({ type: 'exit', driver: this.name, instance: this.id, generation: proc.generation, pid: proc.pid, code: exit.code, signal: exit.signal, at });
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
    for (const [wireId, slot] of this.cancelled) this.release(wireId, slot);
    this.machineBusy = false;
    // Settle (or requeue) what was in flight before the machine moves on, so a restart never
    // races the requests of the process it replaces.
    this.host.processEnded(lost, end);
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
      const slot = this.cancelled.get(message.id);
      if (slot === undefined) {
        this.markFaulty(`protocol: answer for unknown or already answered id ${message.id}`, proc, 'PROTOCOL');
        return;
      }
      // The answer to a request whose caller stopped waiting: expected, dropped, counted.
      this.release(message.id, slot);
      this.lateAnswers++;
      this.afterAnswer();
      this.host.slotFreed(this);
      return;
    }
    this.inFlight.delete(message.id);
    request.wireId = 0;
    request.carrier = undefined;
    this.afterAnswer();
    this.host.answered(request, message, this, proc.generation);
  }

  /** After an in-flight request left: maybe the idle edge, and room for queued work. */
  private afterAnswer(): void {
    if (this.load === 0 && this.machineBusy && !this.idleCheckScheduled) {
      // Debounced: a caller that sends its next request as soon as it gets an answer keeps the
      // instance busy, and the machine never sees a ready/busy flip per request. At most one check
      // is pending at a time, and it is one preallocated function.
      this.idleCheckScheduled = true;
      const clock = this.host.clock;
      if (clock.defer !== undefined) clock.defer(this.idleCheck);
      else clock.setTimeout(this.idleCheck, 0);
    }
  }

  /** The debounced idle edge: only if nothing is in flight once this turn of the loop is done. */
  private readonly idleCheck = (): void => {
    this.idleCheckScheduled = false;
    const proc = this.proc;
    if (this.load === 0 && this.machineBusy && proc !== undefined) {
      this.machineBusy = false;
      this.stopHeartbeat();
      this.actor.send({ type: 'IDLE', generation: proc.generation });
    }
  };

  /**
   * Liveness while busy: a ping every `heartbeatMs`; one still unanswered at the next beat means
   * the handler is hung (a busy loop, a stopped process) — a fault of the handler. Each beat is one
   * timer on the clock, armed again by the previous one.
   */
  private startHeartbeat(proc: HandlerProcess): void {
    const every = this.host.driver.heartbeatMs;
    if (every === false || this.heartbeat !== undefined) return;
    this.awaitingPong = false;
    const clock = this.host.clock;
    const beat = (): void => {
      this.heartbeat = undefined;
      if (proc !== this.proc || !this.machineBusy) return;
      // A handler whose stdout is held back by the decode budget may have answered: wait again.
      if (this.awaitingPong && proc.stalled) {
        this.heartbeat = clock.setTimeout(beat, every);
        return;
      }
      if (this.awaitingPong) {
        this.markFaulty(`heartbeat: no pong within ${every} ms`, proc);
        return;
      }
      this.awaitingPong = true;
      proc.send({ t: 'ping', id: ++this.pingId });
      this.heartbeat = clock.setTimeout(beat, every);
    };
    this.heartbeat = clock.setTimeout(beat, every);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== undefined) this.host.clock.clearTimeout(this.heartbeat);
    this.heartbeat = undefined;
    this.awaitingPong = false;
  }

  private reportCrash(context: InstanceContext): void {
    const last = context.lastExit;
    if (last === null || this.parent === undefined) return;
    // OTP's normal (exit 0) or shutdown (SIGTERM, 143): a transient child stays down after either.
    const normal = last.phase === 'service' && this.fault === undefined && ((last.code === 0 && last.signal === null) || isShutdownExit(last));
    const reason = last.phase === 'start' ? last.reason : (this.lastExit?.reason ?? last.reason);
    const exit: ChildExit = { normal, phase: last.phase, reason, at: this.host.clock.now() };
    this.host.crashed(this);
    this.parent.childExited(this, exit);
  }
}

function describeExit(exit: { code: number | null; signal: string | null }): string {
  return exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}
