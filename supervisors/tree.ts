import { createActor, fromPromise, type Actor } from 'xstate';
import { supervisorMachine, type RestartOrder } from './supervisor-machine.js';
import { createBackoffTracker, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { stopOrder, type RestartType, type Strategy } from './strategy.js';

/**
 * The running supervision tree. A supervisor node drives its xstate machine (which decides) and
 * its children (which do): the machine says "restart children 2 and 3" or "give up"; this file
 * turns that into calls on children. Children are anything that can be started, restarted and
 * stopped — handler instances or other supervisors — so nothing here knows about processes.
 */

/** How a child ended, as its supervisor needs to know it. */
export interface ChildExit {
  /**
   * OTP's `normal` or `shutdown`: code 0 after bye/EOF, or an exit by SIGTERM / with code 143
   * (see `isShutdownExit`). Transient children are not restarted after it.
   */
  normal: boolean;
  /** `start` when it never got to ready: a failed start (see `startIntensity`). */
  phase: 'start' | 'service';
  reason: string;
  at: number;
}

/** What a child calls on its supervisor. */
export interface SupervisorLink {
  childExited(child: SupervisedChild, exit: ChildExit): void;
  /** A child supervisor gave up; `phase: 'start'` when it gave up while starting. */
  childEscalated(child: SupervisedChild, reason: string, at: number, phase: 'start' | 'service'): void;
  /** The child is up (an instance said hello; a supervisor started all its children). */
  childStarted(child: SupervisedChild, at: number): void;
}

/** What a supervisor calls on a child. */
export interface SupervisedChild {
  readonly name: string;
  readonly restartType: RestartType;
  /** The child's own backoff settings, if it has any (they win over the supervisor's). */
  readonly backoff: Partial<BackoffPolicy> | undefined;
  link(parent: SupervisorLink): void;
  /**
   * Starts the child: the first start, after {@link terminate}, or reviving a stopped one. Resolves
   * once it is up; the supervisor itself learns the outcome through its link, never this promise.
   */
  start(): Promise<void>;
  /** Starts a child that ended again after `delayMs` (one_for_one, pool). */
  restart(delayMs: number, cause: 'crash' | 'sibling'): void;
  /**
   * Terminates the child and keeps it down until {@link start} (part of a group restart); resolves
   * once every process below it is reaped. Not reported as an exit. `sibling` when another
   * child's crash caused it.
   */
  terminate(cause: 'crash' | 'sibling'): Promise<void>;
  /** Never restarted again (temporary, or transient after a normal exit): terminated if running. */
  retire(): Promise<void>;
  /** Stops for good; resolves when every process below it is reaped. */
  stop(): Promise<void>;
}

/** Time, randomness and reporting, injected so the tree runs the same under a test clock. */
export interface TreeEnvironment {
  now(): number;
  random(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer of `setTimeout` (a stop must not leave a restart timer keeping the process alive). */
  clearTimeout?(handle: unknown): void;
  onRestart(event: { supervisor: string; child: string; reason: string; delayMs: number; at: number }): void;
  onEscalate(event: { supervisor: string; reason: string; at: number }): void;
}

/** A supervisor's settings (already validated by the public `supervisor()` builder). */
export interface SupervisorSettings {
  name: string;
  strategy: Strategy;
  intensity: { maxRestarts: number; periodMs: number };
  /** Opt-in start retries (see `SupervisorInput.startIntensity`); undefined: OTP's fail-fast start. */
  startIntensity: { maxRestarts: number; periodMs: number } | undefined;
  backoff: Partial<BackoffPolicy>;
  restart: RestartType;
}

type SupervisorActor = Actor<typeof supervisorMachine>;

/**
 * A group restart under way (one_for_all, rest_for_one): the children still to bring up, and
 * whether a newer decision took over.
 */
interface GroupRestart {
  cancelled: boolean;
  /** Children of the group not up again yet: a newer group restart takes them over. */
  pending: Set<number>;
}

/** Someone waiting for a child to be up: resolved true when it is, false when that stopped mattering. */
interface UpWaiter {
  index: number;
  owner: GroupRestart | 'start';
  resolve(up: boolean): void;
}

/**
 * One supervisor of the running tree.
 *
 * Children are started in order, each up before the next. A group restart (one_for_all,
 * rest_for_one) is sequenced as in OTP: the affected children are terminated in reverse start order,
 * each down before the next, then — after the crashed child's backoff — started in start order,
 * each up before the next starts. So a child never runs while a child it depends on is down.
 *
 * @example
 * ```ts
 * const root = new SupervisorNode(settings, [instanceA, instanceB], environment, (reason) => giveUp(reason));
 * await root.start();
 * ```
 */
export class SupervisorNode implements SupervisedChild {
  readonly restartType: RestartType;
  readonly backoff: Partial<BackoffPolicy>;
  actor!: SupervisorActor;
  private parent: SupervisorLink | undefined;
  private trackers: Array<ReturnType<typeof createBackoffTracker>>;
  private stopping: Promise<void> | undefined;
  /** Children whose start was ordered since this supervisor last started (a group restart touches only those). */
  private readonly started = new Set<number>();
  /** Set once every child was started: a failure after it is a failure in service, not at start. */
  private up = false;
  /** Terminated by its own supervisor, waiting for start(). */
  private held = false;
  private group: GroupRestart | undefined;
  private waiters: UpWaiter[] = [];
  /** Timers of delayed restarts under way, with what to run if they are cancelled (a stop, a give-up). */
  private readonly timers = new Map<unknown, (() => void) | undefined>();
  /** Which call of start() is current: an older one still unwinding must not go on starting children. */
  private startRun = 0;

  constructor(
    readonly settings: SupervisorSettings,
    readonly children: SupervisedChild[],
    private readonly env: TreeEnvironment,
    /** Called when this node gives up and has no parent (the root): the whole tree is lost. */
    private readonly onRootGaveUp: (reason: string) => void = () => {},
  ) {
    this.restartType = settings.restart;
    this.backoff = settings.backoff;
    const link: SupervisorLink = {
      childExited: (child, exit) => this.childExited(child, exit),
      childEscalated: (child, reason, at, phase) => this.childEscalated(child, reason, at, phase),
      childStarted: (child, at) => this.childStarted(child, at),
    };
    for (const child of children) child.link(link);
    this.trackers = children.map((child) => this.newTracker(child));
    this.createActor();
  }

  get name(): string {
    return this.settings.name;
  }

  /** Total restarts ordered by this supervisor (for snapshots). */
  get restarts(): number {
    return this.actor.getSnapshot().context.restarts;
  }

  /**
   * The machine's state name (for snapshots and drawing); `restarting` while its own supervisor
   * restarts it (`stopped` once stopped in the middle of that).
   */
  get state(): string {
    if (this.held) return this.stopping === undefined ? 'restarting' : 'stopped';
    return String(this.actor.getSnapshot().value);
  }

  link(parent: SupervisorLink): void {
    this.parent = parent;
  }

  /**
   * Starts children in order, each up before the next (later children may depend on earlier ones).
   * Rejects when a child cannot be started (then this supervisor has given up and escalated).
   */
  async start(): Promise<void> {
    if (this.actor.getSnapshot().status !== 'active' || this.held) {
      this.createActor();
      this.trackers = this.children.map((child) => this.newTracker(child));
    }
    this.held = false;
    this.stopping = undefined;
    this.up = false;
    this.started.clear();
    const run = ++this.startRun;
    this.actor.start();
    for (let index = 0; index < this.children.length; index++) {
      if (!this.isStarting() || run !== this.startRun) break;
      this.started.add(index);
      const up = this.waitUp(index, 'start');
      this.children[index]!.start().catch(() => {
        /* the outcome arrives through the link */
      });
      if (!(await up)) break;
    }
    if (!this.isStarting() || run !== this.startRun) {
      throw new Error(`supervisor "${this.name}" did not finish starting its children${this.failure ? `: ${this.failure}` : ''}`);
    }
    this.up = true;
    this.actor.send({ type: 'CHILDREN_STARTED' });
    this.parent?.childStarted(this, this.env.now());
  }

  restart(delayMs: number, _cause: 'crash' | 'sibling'): void {
    void (async () => {
      await this.terminate('crash');
      this.after(delayMs, () => {
        // Stopped (or started by someone else) during the wait: nothing left to restart.
        if (!this.held || this.stopping !== undefined) return;
        this.start().catch(() => {
          /* a failed restart reports itself through escalation */
        });
      });
    })();
  }

  /** Terminates every child (kept down, not stopped) and this supervisor; start() brings it back fresh. */
  async terminate(_cause: 'crash' | 'sibling'): Promise<void> {
    this.endWaiting();
    this.held = true;
    // Stopped first, so that no child's exit during the termination is taken for a crash.
    if (this.actor.getSnapshot().status === 'active') this.actor.stop();
    await this.forEachChildInStopOrder((child) => child.terminate('sibling'));
  }

  /** Never restarted: every child below is retired too (so its drivers refuse requests at once). */
  async retire(): Promise<void> {
    this.endWaiting();
    await this.forEachChildInStopOrder((child) => child.retire());
    await this.stop();
  }

  /** Stops every child in reverse start order, waiting for each (a pool's at once). */
  stop(): Promise<void> {
    this.endWaiting();
    this.stopping ??= (async () => {
      if (this.actor.getSnapshot().status === 'active' && this.state !== 'failed') {
        this.actor.send({ type: 'STOP' });
      }
      await this.stopChildren();
    })();
    return this.stopping;
  }

  private get failure(): string | null {
    return this.actor.getSnapshot().context.failure;
  }

  private isStarting(): boolean {
    return this.actor.getSnapshot().status === 'active' && this.actor.getSnapshot().value === 'starting' && !this.held;
  }

  private createActor(): void {
    const machine = supervisorMachine.provide({
      actions: {
        restartChildren: (_: unknown, params: RestartOrder) => this.restartChildren(params),
        retireChild: (_: unknown, params: { childIndex: number }) => {
          // A group restart waiting for this child goes on without it.
          this.childSettled(params.childIndex);
          void this.children[params.childIndex]?.retire();
        },
        stopAllChildren: () => {
          void this.stopChildren();
        },
        escalate: (_: unknown, params: { reason: string }) => this.escalate(params.reason),
      },
      actors: {
        stopChildren: fromPromise(() => this.stopChildren()),
      },
    });
    this.actor = createActor(machine, {
      input: {
        name: this.settings.name,
        strategy: this.settings.strategy,
        intensity: this.settings.intensity,
        startIntensity: this.settings.startIntensity ?? null,
        children: this.children.map((child, i) => ({ id: `${child.name}#${i}`, restart: child.restartType })),
      },
    });
  }

  private childExited(child: SupervisedChild, exit: ChildExit): void {
    const childIndex = this.children.indexOf(child);
    if (childIndex < 0 || this.actor.getSnapshot().status !== 'active') return;
    this.lastReasons.set(childIndex, exit.reason);
    this.actor.send({ type: 'CHILD_EXITED', childIndex, normal: exit.normal, phase: exit.phase, at: exit.at, reason: exit.reason });
  }

  private childEscalated(child: SupervisedChild, reason: string, at: number, phase: 'start' | 'service'): void {
    const childIndex = this.children.indexOf(child);
    if (childIndex < 0 || this.actor.getSnapshot().status !== 'active') return;
    this.lastReasons.set(childIndex, reason);
    this.actor.send({ type: 'CHILD_ESCALATED', childIndex, reason, at, phase });
  }

  private childStarted(child: SupervisedChild, at: number): void {
    const index = this.children.indexOf(child);
    this.trackers[index]?.onStarted(at);
    this.childSettled(index);
  }

  /** Child `index` is up (or will never be started again): whoever waits for it goes on. */
  private childSettled(index: number): void {
    this.group?.pending.delete(index);
    const still: UpWaiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.index === index) waiter.resolve(true);
      else still.push(waiter);
    }
    this.waiters = still;
  }

  /** Resolves true once child `index` is up; false if `owner` is cancelled or the supervisor ends first. */
  private waitUp(index: number, owner: UpWaiter['owner']): Promise<boolean> {
    return new Promise((resolve) => this.waiters.push({ index, owner, resolve }));
  }

  /** Ends the current group restart and every wait: this supervisor is giving up, stopping or being terminated. */
  private endWaiting(): void {
    if (this.group !== undefined) this.group.cancelled = true;
    this.group = undefined;
    for (const waiter of this.waiters.splice(0)) waiter.resolve(false);
    for (const [handle, onCancel] of [...this.timers]) {
      this.timers.delete(handle);
      this.env.clearTimeout?.(handle);
      onCancel?.();
    }
  }

  /** `fn` after `ms` on the environment's clock, cancelled by {@link endWaiting} (which runs `onCancel` instead). */
  private after(ms: number, fn: () => void, onCancel?: () => void): void {
    const handle = this.env.setTimeout(() => {
      this.timers.delete(handle);
      fn();
    }, ms);
    this.timers.set(handle, onCancel);
  }

  private readonly lastReasons = new Map<number, string>();

  private restartChildren({ indices, remove, crashedIndex }: RestartOrder): void {
    const at = this.env.now();
    // Everything restarted together waits for the crashed child's backoff: restarting the
    // siblings earlier would only have them wait for it again.
    const delayMs = this.trackers[crashedIndex]?.onCrashed(at) ?? 0;
    const reason = this.lastReasons.get(crashedIndex) ?? 'crash';
    for (const index of indices) {
      const child = this.children[index];
      if (child === undefined) continue;
      const cause = index === crashedIndex ? 'crash' : 'sibling';
      this.env.onRestart({ supervisor: this.name, child: child.name, reason: cause === 'crash' ? reason : `sibling ${this.children[crashedIndex]?.name ?? '?'} crashed`, delayMs, at });
    }
    if (indices.length === 1 && remove.length === 0 && indices[0] === crashedIndex) {
      // The crashed child alone (one_for_one, pool, or the last child under rest_for_one): it is
      // down already, nothing to sequence.
      this.children[crashedIndex]?.restart(delayMs, 'crash');
      return;
    }
    void this.restartGroup(indices, remove, crashedIndex, delayMs);
  }

  /**
   * A group restart, sequenced as OTP does it. A newer group restart (a crash meanwhile, or a
   * failed start in this one) takes over the children this one had not brought up yet.
   */
  private async restartGroup(indices: number[], remove: number[], crashedIndex: number, delayMs: number): Promise<void> {
    const previous = this.group;
    const all = new Set(indices);
    if (previous !== undefined) {
      previous.cancelled = true;
      for (const index of previous.pending) all.add(index);
      for (const waiter of this.waiters) if (waiter.owner === previous) waiter.resolve(false);
      this.waiters = this.waiters.filter((waiter) => waiter.owner !== previous);
    }
    // Only children whose start was ordered: during the first start, later ones are left to it.
    const restart = [...all].filter((i) => this.started.has(i)).sort((a, b) => a - b);
    const group: GroupRestart = { cancelled: false, pending: new Set(restart) };
    this.group = group;
    const removing = new Set(remove.filter((i) => this.started.has(i)));
    for (const index of [...restart, ...removing].sort((a, b) => b - a)) {
      const child = this.children[index]!;
      await (removing.has(index) ? child.retire() : child.terminate(index === crashedIndex ? 'crash' : 'sibling'));
      if (group.cancelled) return;
    }
    // Cancelled (a stop, a give-up) the wait ends at once; `group.cancelled` then ends the restart.
    if (delayMs > 0) await new Promise<void>((resolve) => this.after(delayMs, resolve, resolve));
    for (const index of restart) {
      if (group.cancelled) return;
      const up = this.waitUp(index, group);
      this.children[index]!.start().catch(() => {
        /* a failed start is reported through the link, and answered by a new decision */
      });
      if (!(await up)) return;
    }
    if (this.group === group) this.group = undefined;
  }

  private escalate(reason: string): void {
    const at = this.env.now();
    const phase = this.up ? 'service' : 'start';
    this.endWaiting();
    this.env.onEscalate({ supervisor: this.name, reason, at });
    if (this.parent === undefined) {
      // The root: the whole tree is lost. Said before the children stop, so that what is pending
      // is rejected as GAVE_UP (the reason) rather than STOPPED (a consequence).
      this.onRootGaveUp(reason);
      return;
    }
    const parent = this.parent;
    void this.stopChildren().then(() => parent.childEscalated(this, reason, at, phase));
  }

  private stopChildrenPromise: Promise<void> | undefined;
  private stopChildren(): Promise<void> {
    this.stopChildrenPromise ??= this.forEachChildInStopOrder((child) => child.stop()).finally(() => {
      this.stopChildrenPromise = undefined;
    });
    return this.stopChildrenPromise;
  }

  /**
   * Runs `step` on every child in reverse start order, each done before the next — except in a
   * pool, whose identical instances depend on nothing and are all stopped at once (OTP's
   * simple_one_for_one).
   */
  private async forEachChildInStopOrder(step: (child: SupervisedChild) => Promise<void>): Promise<void> {
    if (this.settings.strategy === 'pool') {
      await Promise.all(this.children.map(step));
      return;
    }
    for (const index of stopOrder(this.children.length)) await step(this.children[index]!);
  }

  private newTracker(child: SupervisedChild) {
    const policy: BackoffPolicy = { ...DEFAULT_BACKOFF, ...stripUndefined(this.settings.backoff), ...stripUndefined(child.backoff ?? {}) };
    return createBackoffTracker(policy, () => this.env.random());
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
