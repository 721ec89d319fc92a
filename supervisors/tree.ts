import { createActor, fromPromise, type Actor } from 'xstate';
import { supervisorMachine } from './supervisor-machine.js';
import { createBackoffTracker, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import type { RestartType, Strategy } from './strategy.js';

/**
 * The running supervision tree. A supervisor node drives its xstate machine (which decides) and
 * its children (which do): the machine says "restart children 2 and 3" or "give up"; this file
 * turns that into calls on children. Children are anything that can be started, restarted and
 * stopped — handler instances or other supervisors — so nothing here knows about processes.
 */

/** How a child ended, as its supervisor needs to know it. */
export interface ChildExit {
  /** A normal exit (code 0 after bye/EOF): transient children are not restarted after it. */
  normal: boolean;
  /** Crashes while starting are counted apart (they fail fast instead of looping). */
  phase: 'start' | 'service';
  reason: string;
  at: number;
}

/** What a child calls on its supervisor. */
export interface SupervisorLink {
  childExited(child: SupervisedChild, exit: ChildExit): void;
  childEscalated(child: SupervisedChild, reason: string, at: number): void;
  childStarted(child: SupervisedChild, at: number): void;
}

/** What a supervisor calls on a child. */
export interface SupervisedChild {
  readonly name: string;
  readonly restartType: RestartType;
  /** The child's own backoff settings, if it has any (they win over the supervisor's). */
  readonly backoff: Partial<BackoffPolicy> | undefined;
  link(parent: SupervisorLink): void;
  /** Starts the child; resolves once it is up. */
  start(): Promise<void>;
  /** Restarts after `delayMs`; `sibling` when another child's crash caused it. */
  restart(delayMs: number, cause: 'crash' | 'sibling'): void;
  /** Not restarted (temporary, or transient after a normal exit). */
  retire(): void;
  /** Stops for good; resolves when every process below it is reaped. */
  stop(): Promise<void>;
}

/** Time, randomness and reporting, injected so the tree runs the same under a test clock. */
export interface TreeEnvironment {
  now(): number;
  random(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  onRestart(event: { supervisor: string; child: string; reason: string; delayMs: number; at: number }): void;
  onEscalate(event: { supervisor: string; reason: string; at: number }): void;
}

/** A supervisor's settings (already validated by the public `supervisor()` builder). */
export interface SupervisorSettings {
  name: string;
  strategy: Strategy;
  intensity: { maxRestarts: number; periodMs: number };
  startIntensity: { maxRestarts: number; periodMs: number };
  backoff: Partial<BackoffPolicy>;
  restart: RestartType;
}

type SupervisorActor = Actor<typeof supervisorMachine>;

/**
 * One supervisor of the running tree.
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
      childEscalated: (child, reason, at) => this.childEscalated(child, reason, at),
      childStarted: (child, at) => this.trackerOf(child)?.onStarted(at),
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

  /** The machine's state name (for snapshots and drawing). */
  get state(): string {
    return String(this.actor.getSnapshot().value);
  }

  link(parent: SupervisorLink): void {
    this.parent = parent;
  }

  /** Starts children in order, each up before the next (later children may depend on earlier ones). */
  async start(): Promise<void> {
    if (this.actor.getSnapshot().status !== 'active') this.createActor();
    this.stopping = undefined;
    this.actor.start();
    this.actor.send({ type: 'CHILDREN_STARTED' });
    for (const child of this.children) {
      if (this.actor.getSnapshot().status !== 'active' || this.state !== 'running') {
        throw new Error(`supervisor "${this.name}" gave up while starting its children`);
      }
      await child.start();
    }
  }

  restart(delayMs: number, _cause: 'crash' | 'sibling'): void {
    void (async () => {
      await this.stopChildren();
      this.env.setTimeout(() => {
        this.trackers = this.children.map((child) => this.newTracker(child));
        this.start().catch(() => {
          /* a failed restart reports itself through escalation */
        });
      }, delayMs);
    })();
  }

  retire(): void {
    void this.stop();
  }

  /** Stops every child in reverse start order, waiting for each. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.actor.getSnapshot().status === 'active' && this.state !== 'failed') {
        this.actor.send({ type: 'STOP' });
      }
      await this.stopChildren();
    })();
    return this.stopping;
  }

  private createActor(): void {
    const machine = supervisorMachine.provide({
      actions: {
        restartChildren: (_: unknown, params: { indices: number[]; crashedIndex: number; reason?: string }) => this.restartChildren(params),
        retireChild: (_: unknown, params: { childIndex: number }) => this.children[params.childIndex]?.retire(),
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
        startIntensity: this.settings.startIntensity,
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

  private childEscalated(child: SupervisedChild, reason: string, at: number): void {
    const childIndex = this.children.indexOf(child);
    if (childIndex < 0 || this.actor.getSnapshot().status !== 'active') return;
    this.lastReasons.set(childIndex, reason);
    this.actor.send({ type: 'CHILD_ESCALATED', childIndex, reason, at });
  }

  private readonly lastReasons = new Map<number, string>();

  private restartChildren({ indices, crashedIndex }: { indices: number[]; crashedIndex: number }): void {
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
      child.restart(delayMs, cause);
    }
  }

  private escalate(reason: string): void {
    const at = this.env.now();
    this.env.onEscalate({ supervisor: this.name, reason, at });
    if (this.parent === undefined) {
      // The root: the whole tree is lost. Said before the children stop, so that what is pending
      // is rejected as GAVE_UP (the reason) rather than STOPPED (a consequence).
      this.onRootGaveUp(reason);
      return;
    }
    const parent = this.parent;
    void this.stopChildren().then(() => parent.childEscalated(this, reason, at));
  }

  private stopChildrenPromise: Promise<void> | undefined;
  private stopChildren(): Promise<void> {
    this.stopChildrenPromise ??= (async () => {
      for (let i = this.children.length - 1; i >= 0; i--) await this.children[i]!.stop();
    })().finally(() => {
      this.stopChildrenPromise = undefined;
    });
    return this.stopChildrenPromise;
  }

  private trackerOf(child: SupervisedChild) {
    return this.trackers[this.children.indexOf(child)];
  }

  private newTracker(child: SupervisedChild) {
    const policy: BackoffPolicy = { ...DEFAULT_BACKOFF, ...stripUndefined(this.settings.backoff), ...stripUndefined(child.backoff ?? {}) };
    return createBackoffTracker(policy, () => this.env.random());
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
