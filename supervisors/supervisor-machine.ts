import { assign, fromPromise, setup } from 'xstate';
import { recordRestart, type IntensityLimit } from './intensity.js';
import { restartPlan, shouldRestart, stopOrder, type RestartType, type Strategy } from './strategy.js';

/**
 * The decisions of one supervisor, as an xstate actor so the tree can be inspected and drawn.
 * It decides only — restart these children, retire that one, give up — and the runtime
 * (`tree.ts`) carries the decisions out through the injected actions.
 */

/**
 * One child as its supervisor sees it.
 *
 * @example
 * ```ts
 * const child: SupervisorChildSpec = { id: 'png#0', restart: 'permanent' };
 * ```
 */
export interface SupervisorChildSpec {
  id: string;
  restart: RestartType;
  /** A temporary child that ended or was terminated with its siblings: gone until the supervisor restarts. */
  removed?: boolean;
}

/**
 * What a supervisor machine is started with.
 *
 * @example
 * ```ts
 * const input: SupervisorInput = {
 *   name: 'root', strategy: 'one_for_one', intensity: { maxRestarts: 3, periodMs: 5_000 },
 *   children: [{ id: 'png#0', restart: 'permanent' }],
 * };
 * ```
 */
export interface SupervisorInput {
  name: string;
  strategy: Strategy;
  intensity: IntensityLimit;
  /**
   * Opt-in start retries. Absent (OTP): a failed start counts in `intensity` like any restart, and
   * a child failing its first start fails the supervisor at once. Given: failed starts, the first
   * included, are retried with backoff and counted apart, in this window.
   */
  startIntensity?: IntensityLimit | null;
  /** In start order. */
  children: SupervisorChildSpec[];
}

/**
 * A supervisor's memory: plain data (the intensity windows are timestamp arrays).
 *
 * @example
 * ```ts
 * const { restarts, lastReason } = actor.getSnapshot().context;
 * ```
 */
export interface SupervisorContext {
  name: string;
  strategy: Strategy;
  intensity: IntensityLimit;
  /** Null unless start retries were asked for (see {@link SupervisorInput.startIntensity}). */
  startIntensity: IntensityLimit | null;
  children: SupervisorChildSpec[];
  /** Restarts in service within the intensity period (pruned). */
  serviceWindow: number[];
  /** Restarts after failed starts within the start period (pruned; used with `startIntensity` only). */
  startWindow: number[];
  /** Restart decisions made: one per crash answered with a restart, whatever the strategy. */
  restarts: number;
  /** Why the last child ended (or failed to start), for snapshots. */
  lastReason: string | null;
  /** Why this supervisor gave up, once it has. */
  failure: string | null;
}

/**
 * Events a supervisor machine accepts.
 *
 * @example
 * ```ts
 * actor.send({ type: 'CHILD_EXITED', childIndex: 1, normal: false, phase: 'service', at: 1_200, reason: 'killed by SIGSEGV' });
 * ```
 */
export type SupervisorEvent =
  /** Every child was started, in order, each up before the next. */
  | { type: 'CHILDREN_STARTED' }
  /**
   * A child ended; `phase: 'start'` when it never got to ready (a failed start). `normal` is OTP's
   * `normal` or `shutdown` (exit 0, SIGTERM, 143): a transient child is not restarted after it.
   */
  | { type: 'CHILD_EXITED'; childIndex: number; normal: boolean; phase: 'start' | 'service'; at: number; reason: string }
  /**
   * A child supervisor gave up. As in OTP it ended with reason `shutdown`: a permanent child
   * supervisor is restarted, a transient or temporary one is not. `phase: 'start'` when it gave up
   * while starting its own children (a failed start of this child).
   */
  | { type: 'CHILD_ESCALATED'; childIndex: number; reason: string; at: number; phase?: 'start' | 'service' }
  | { type: 'STOP' };

/**
 * Params of the injected `restartChildren` action.
 *
 * @example
 * ```ts
 * restartChildren: (_, { indices, crashedIndex }: RestartOrder) => indices.forEach((i) => children[i].restart()),
 * ```
 */
export interface RestartOrder {
  /** The children to restart, in start order. */
  indices: number[];
  /** Temporary siblings to terminate with the others and never start again (OTP removes them). */
  remove: number[];
  /** The child whose crash caused it (the others are restarted as siblings). */
  crashedIndex: number;
  reason: string;
}

/** A child's end, whichever event reported it. */
interface ChildEnd {
  childIndex: number;
  normal: boolean;
  phase: 'start' | 'service';
  at: number;
  reason: string;
}

function childEndOf(event: SupervisorEvent): ChildEnd | null {
  if (event.type === 'CHILD_EXITED') return event;
  if (event.type === 'CHILD_ESCALATED') {
    // Giving up in service is OTP's `shutdown`; giving up while starting is a failed start, which
    // is retried like any (re)start that failed, whatever the restart type.
    const phase = event.phase ?? 'service';
    return { childIndex: event.childIndex, normal: phase === 'service', phase, at: event.at, reason: event.reason };
  }
  return null;
}

/**
 * Where a child's end is counted: in `intensity`, like any restart (OTP), or — failed starts, when
 * start retries were asked for — in the start window.
 */
function judge(context: SupervisorContext, end: ChildEnd) {
  const startLimit = end.phase === 'start' ? context.startIntensity : null;
  const atStart = startLimit !== null;
  const limit = startLimit ?? context.intensity;
  const verdict = recordRestart(atStart ? context.startWindow : context.serviceWindow, end.at, limit);
  const what = atStart ? 'failed starts' : 'restarts';
  return {
    ...verdict,
    atStart,
    failure: `${context.name}: more than ${limit.maxRestarts} ${what} in ${limit.periodMs} ms (last: ${end.reason})`,
  };
}

function notProvided(name: string): Error {
  return new Error(`not provided: ${name} (give it with supervisorMachine.provide(...))`);
}

/** The events by which a child ends: its own exit, or (a child supervisor) its giving up. */
type EndedEvent = Extract<SupervisorEvent, { type: 'CHILD_EXITED' | 'CHILD_ESCALATED' }>;

/**
 * What `running` does when a child ends, however it was reported: unknown children are ignored,
 * children not to be restarted are retired, too many restarts fail the supervisor, anything else
 * restarts what the strategy says. One list, so the two events cannot drift apart.
 */
const childEnded = [
  { guard: 'isUnknownChild' },
  {
    guard: 'isNotRestarted',
    actions: ['noteReason', 'removeIfTemporary', { type: 'retireChild', params: ({ event }: { event: EndedEvent }) => ({ childIndex: event.childIndex }) }],
  },
  {
    guard: 'exceedsIntensity',
    target: 'failed',
    actions: [
      'noteReason',
      'noteGivingUp',
      { type: 'stopAllChildren', params: ({ context }: { context: SupervisorContext }) => ({ order: stopOrder(context.children.length) }) },
    ],
  },
  {
    actions: [
      'noteReason',
      'countRestart',
      {
        type: 'restartChildren',
        params: ({ context, event }: { context: SupervisorContext; event: EndedEvent }) => {
          const plan = restartPlan(context.strategy, context.children, event.childIndex);
          return { indices: plan.restart, remove: plan.remove, crashedIndex: event.childIndex, reason: event.reason };
        },
      },
      // After the order is given (its params read the children as they were).
      'removeTemporarySiblings',
    ],
  },
] as const;

/**
 * What `starting` does when a child ends: a failed start fails the supervisor at once (OTP's
 * start_link) unless start retries were asked for; anything else is handled as in `running`.
 */
const childEndedWhileStarting = [
  { guard: 'isUnknownChild' },
  {
    guard: 'failsTheStart',
    target: 'failed',
    actions: [
      'noteReason',
      'noteStartFailure',
      // Children started before the one that failed must not be left running.
      { type: 'stopAllChildren', params: ({ context }: { context: SupervisorContext }) => ({ order: stopOrder(context.children.length) }) },
    ],
  },
  ...childEnded,
] as const;

/**
 * The machine of one supervisor.
 *
 * States: `starting` → `running` → `stopping` → `stopped`, or `failed` (gave up, final). A child
 * failing its first start in `starting` fails the supervisor (unless start retries were asked for).
 * Injected: actions `restartChildren`, `retireChild`, `stopAllChildren`, `escalate`; actor
 * `stopChildren`.
 *
 * @example
 * ```ts
 * const actor = createActor(supervisorMachine.provide({ actions: { restartChildren, retireChild, stopAllChildren, escalate }, actors: { stopChildren } }), {
 *   input: { name: 'root', strategy: 'rest_for_one', intensity: { maxRestarts: 3, periodMs: 5_000 }, children },
 * }).start();
 * actor.send({ type: 'CHILDREN_STARTED' });
 * actor.send({ type: 'CHILD_EXITED', childIndex: 0, normal: false, phase: 'service', at: 100, reason: 'exit 1' });
 * // → restartChildren({ indices: [0, 1, ...], remove: [], crashedIndex: 0, reason: 'exit 1' })
 * ```
 */
export const supervisorMachine = setup({
  types: {
    input: {} as SupervisorInput,
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
  },
  // Placeholders: a runtime that forgot one fails loudly, naming what is missing.
  actors: {
    stopChildren: fromPromise<void, { order: number[] }>(async () => {
      throw notProvided('stopChildren');
    }),
  },
  actions: {
    restartChildren: (_args, _params: RestartOrder) => {
      throw notProvided('restartChildren');
    },
    /** Not restarted, by its restart type: the child is left stopped. */
    retireChild: (_args, _params: { childIndex: number }) => {
      throw notProvided('retireChild');
    },
    /** Stop every child, in reverse start order, without waiting (we are giving up). */
    stopAllChildren: (_args, _params: { order: number[] }) => {
      throw notProvided('stopAllChildren');
    },
    /** Tell the parent supervisor (or the manager, for the root) that this one gave up. */
    escalate: (_args, _params: { reason: string }) => {
      throw notProvided('escalate');
    },

    // The steps below read the ended child from CHILD_EXITED or CHILD_ESCALATED alike.
    noteReason: assign(({ context, event }) => ({ lastReason: childEndOf(event)?.reason ?? context.lastReason })),
    noteGivingUp: assign(({ context, event }) => {
      const end = childEndOf(event);
      return end === null ? {} : { failure: judge(context, end).failure };
    }),
    noteStartFailure: assign(({ context, event }) => {
      const end = childEndOf(event);
      if (end === null) return {};
      const id = context.children[end.childIndex]?.id ?? `#${end.childIndex}`;
      return { failure: `${context.name}: child ${id} failed to start (${end.reason})` };
    }),
    removeIfTemporary: assign(({ context, event }) => {
      const end = childEndOf(event);
      if (end === null || context.children[end.childIndex]?.restart !== 'temporary') return {};
      return { children: context.children.map((child, i) => (i === end.childIndex ? { ...child, removed: true } : child)) };
    }),
    removeTemporarySiblings: assign(({ context, event }) => {
      const end = childEndOf(event);
      if (end === null) return {};
      const { remove } = restartPlan(context.strategy, context.children, end.childIndex);
      if (remove.length === 0) return {};
      return { children: context.children.map((child, i) => (remove.includes(i) ? { ...child, removed: true } : child)) };
    }),
    countRestart: assign(({ context, event }) => {
      const end = childEndOf(event);
      if (end === null) return {};
      const verdict = judge(context, end);
      return {
        restarts: context.restarts + 1,
        ...(verdict.atStart ? { startWindow: verdict.window } : { serviceWindow: verdict.window }),
      };
    }),
  },
  guards: {
    isUnknownChild: ({ context, event }) => {
      const end = childEndOf(event);
      return end === null || context.children[end.childIndex] === undefined || context.children[end.childIndex]!.removed === true;
    },
    failsTheStart: ({ context, event }) => {
      const end = childEndOf(event);
      return end !== null && end.phase === 'start' && context.startIntensity === null;
    },
    isNotRestarted: ({ context, event }) => {
      const end = childEndOf(event);
      const child = end === null ? undefined : context.children[end.childIndex];
      return end !== null && child !== undefined && !shouldRestart(child.restart, end);
    },
    exceedsIntensity: ({ context, event }) => {
      const end = childEndOf(event);
      return end !== null && judge(context, end).exceeded;
    },
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    name: input.name,
    strategy: input.strategy,
    intensity: { ...input.intensity },
    startIntensity: input.startIntensity ? { ...input.startIntensity } : null,
    children: input.children.map((child) => ({ ...child })),
    serviceWindow: [],
    startWindow: [],
    restarts: 0,
    lastReason: null,
    failure: null,
  }),
  initial: 'starting',
  states: {
    starting: {
      // The runtime starts the children in order, each up before the next, then says so.
      on: {
        CHILDREN_STARTED: { target: 'running' },
        CHILD_EXITED: childEndedWhileStarting,
        CHILD_ESCALATED: childEndedWhileStarting,
        STOP: { target: 'stopping' },
      },
    },
    running: {
      on: {
        CHILD_EXITED: childEnded,
        // A child supervisor giving up is, to us, that child ending with `shutdown`: same handling
        // (so only a permanent child supervisor is restarted).
        CHILD_ESCALATED: childEnded,
        STOP: { target: 'stopping' },
      },
    },
    stopping: {
      invoke: {
        src: 'stopChildren',
        input: ({ context }) => ({ order: stopOrder(context.children.length) }),
        onDone: { target: 'stopped' },
        // Whatever went wrong while stopping, the supervisor is stopped: never stuck here.
        onError: { target: 'stopped' },
      },
    },
    stopped: {
      type: 'final',
    },
    failed: {
      // Final, so a parent restarting this supervisor starts a fresh actor with fresh windows.
      type: 'final',
      entry: { type: 'escalate', params: ({ context }) => ({ reason: context.failure ?? `${context.name}: gave up` }) },
    },
  },
  output: ({ context }) => ({ failure: context.failure }),
});
