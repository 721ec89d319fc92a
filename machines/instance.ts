import { assign, fromPromise, setup, spawnChild, stopChild, type DoneActorEvent, type ErrorActorEvent } from 'xstate';
import type {
  ExtractInput,
  InstanceContext,
  InstanceEvent,
  InstanceInput,
  LastExit,
  SpawnInput,
  SpawnOutput,
  TerminateInput,
} from './instance-types.js';

export { INSTANCE_STATES } from './instance-types.js';
export type {
  ExtractInput,
  InstanceContext,
  InstanceEvent,
  InstanceInput,
  InstanceStateName,
  LastExit,
  SpawnInput,
  SpawnOutput,
  TerminateInput,
} from './instance-types.js';

/**
 * The lifecycle of one handler instance (a slot of a driver), as logic only.
 *
 * ```
 * extracting -> spawning -> ready <-> busy
 *     ^            ^          \        /
 *     |            |           v      v
 *     |         backoff <---- crashed ----> failed (gave up)
 *     +------- recycling <--- ready/busy (every slot stuck: bye, no blame, no backoff)
 *     any state -- STOP --> stopping -> stopped
 * ```
 *
 * Everything that touches the world is injected with `.provide(...)`: the actors `extract`,
 * `spawn` and `terminate`, the actions `kill` and `reportCrash`. Time arrives in events (`at`) or
 * through the named delay `backoff`, run by whatever clock the actor was created with.
 */

/**
 * `terminate` is spawned (not invoked) under this id so that a STOP arriving while a restart is
 * already terminating the process can adopt that termination instead of starting a second one:
 * an invoked actor would be cancelled on leaving `restarting`.
 */
const TERMINATION = 'terminate';

/** The termination's completion, the only internal events the chart listens to. */
type TerminationSettled = DoneActorEvent<void, typeof TERMINATION> | ErrorActorEvent<unknown, typeof TERMINATION>;

function notProvided(name: string): Error {
  return new Error(`not provided: ${name} (give it with instanceMachine.provide(...))`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A start step (extract, spawn) that failed: a crash of the start phase, recorded for the
 * generation being started, with the step's error as the reason.
 */
function startFailed(generationOf: (context: InstanceContext) => number) {
  return {
    target: 'crashed',
    actions: {
      type: 'recordCrash',
      params: ({ context, event }: { context: InstanceContext; event: ErrorActorEvent }) => ({
        code: null,
        signal: null,
        reason: messageOf(event.error),
        phase: 'start' as const,
        generation: generationOf(context),
      }),
    },
  } as const;
}

/**
 * The end of a termination, done or failed alike (the runtime has SIGKILLed what it could either
 * way): the terminate actor is stopped, the process forgotten, and `then` runs before `target`.
 */
function whenTerminated(target: 'backoff' | 'stopped', ...then: Array<'countRestart'>) {
  const settled = { target, actions: ['stopTermination', 'processGone', ...then] } as const;
  return { 'xstate.done.actor.terminate': settled, 'xstate.error.actor.terminate': settled } as const;
}

/**
 * The end of a recycle's termination: straight on to a fresh start, or (if the supervisor ordered
 * a restart meanwhile) through its backoff, counted as that restart.
 */
function recycled(type: 'xstate.done.actor.terminate' | 'xstate.error.actor.terminate') {
  return {
    [type]: [
      { guard: 'restartOrdered', target: 'backoff', actions: ['stopTermination', 'processGone', 'countRestart'] },
      { target: 'extracting', actions: ['stopTermination', 'processGone', 'countRecycle'] },
    ],
  } as const;
}

type ExitEvent = Extract<InstanceEvent, { type: 'EXIT' }>;
type FaultEvent = Extract<InstanceEvent, { type: 'FAULT' }>;
type RestartEvent = Extract<InstanceEvent, { type: 'RESTART' }>;

/**
 * How a live process's life ends, the same in `spawning`, `ready` and `busy`: its exit or a
 * fault (then it is killed) makes a crash of that phase; a supervisor's RESTART terminates it.
 * One definition, so the three states cannot drift apart.
 */
function lifeEnds(phase: LastExit['phase']) {
  return {
    EXIT: {
      guard: 'isCurrentGeneration',
      target: 'crashed',
      actions: {
        type: 'recordCrash',
        params: ({ event }: { event: ExitEvent }) => ({ code: event.code, signal: event.signal, reason: 'exit', phase, generation: event.generation }),
      },
    },
    FAULT: {
      guard: 'isCurrentGeneration',
      target: 'crashed',
      actions: [
        {
          type: 'recordCrash',
          params: ({ event }: { event: FaultEvent }) => ({ code: null, signal: null, reason: event.reason, phase, generation: event.generation }),
        },
        { type: 'kill', params: ({ event }: { event: FaultEvent }) => ({ generation: event.generation }) },
      ],
    },
    RESTART: { target: 'restarting', actions: { type: 'setBackoff', params: ({ event }: { event: RestartEvent }) => ({ delayMs: event.delayMs, hold: event.hold }) } },
  } as const;
}

/** A live process that can serve no more through no fault of its own is replaced gracefully. */
const recycle = {
  RECYCLE: { guard: 'isCurrentGeneration', target: 'recycling' },
} as const;

/**
 * The lifecycle machine of one handler instance.
 *
 * @example
 * ```ts
 * import { createActor, fromPromise } from 'xstate';
 * const machine = instanceMachine.provide({
 *   actors: {
 *     extract: fromPromise(async () => {}),
 *     spawn: fromPromise(async () => ({ pid: 4242, at: Date.now() })),
 *     terminate: fromPromise(async () => {}),
 *   },
 *   actions: { kill: () => proc.kill('SIGKILL'), reportCrash: ({ context }) => supervisor.crashed(context.lastExit) },
 * });
 * const actor = createActor(machine, { input: { driver: 'png', instance: 'V1StGXR8_Z' } }).start();
 * actor.send({ type: 'BUSY', generation: actor.getSnapshot().context.generation });
 * ```
 */
export const instanceMachine = setup({
  types: {
    input: {} as InstanceInput,
    context: {} as InstanceContext,
    events: {} as InstanceEvent | TerminationSettled,
  },
  // Placeholders: a runtime that forgot one fails loudly, naming what is missing.
  actors: {
    extract: fromPromise<void, ExtractInput>(async () => {
      throw notProvided('extract');
    }),
    spawn: fromPromise<SpawnOutput, SpawnInput>(async () => {
      throw notProvided('spawn');
    }),
    terminate: fromPromise<void, TerminateInput>(async () => {
      throw notProvided('terminate');
    }),
  },
  actions: {
    /** Kill the process of `generation` at once: after a fault it is presumed compromised. */
    kill: (_args, _params: { generation: number }) => {
      throw notProvided('kill');
    },
    /** Hand `context.lastExit` to the supervisor, which answers RESTART, GIVE_UP or RETIRE. */
    reportCrash: () => {
      throw notProvided('reportCrash');
    },
    recordCrash: assign(({ context }, crash: LastExit) => ({
      lastExit: crash,
      startFailures: crash.phase === 'start' ? context.startFailures + 1 : context.startFailures,
      pid: null,
      startedAt: null,
    })),
    // A nonsense delay (negative, NaN) means "now" rather than a timer that never or instantly fires.
    setBackoff: assign((_args, params: { delayMs: number; hold?: boolean }) => ({
      backoffMs: Number.isFinite(params.delayMs) && params.delayMs > 0 ? params.delayMs : 0,
      held: params.hold === true,
    })),
    processGone: assign({ pid: null, startedAt: null }),
    countRestart: assign({ restarts: ({ context }) => context.restarts + 1 }),
    countRecycle: assign({ recycles: ({ context }) => context.recycles + 1 }),
    orderRestart: assign({ restartOrdered: true }),
    clearRestartOrder: assign({ restartOrdered: false }),
    stopTermination: stopChild(TERMINATION),
  },
  guards: {
    /** A late event of an older process must never touch its replacement. */
    isCurrentGeneration: ({ context, event }) => 'generation' in event && event.generation === context.generation,
    restartOrdered: ({ context }) => context.restartOrdered,
    noBackoff: ({ context }) => context.backoffMs === 0 && !context.held,
    notHeld: ({ context }) => !context.held,
  },
  delays: {
    backoff: ({ context }) => context.backoffMs,
  },
}).createMachine({
  id: 'instance',
  context: ({ input }) => ({
    driver: input.driver,
    instance: input.instance,
    generation: input.generation ?? 0,
    pid: null,
    restarts: 0,
    startFailures: 0,
    lastExit: null,
    backoffMs: 0,
    held: false,
    startedAt: null,
    recycles: 0,
    restartOrdered: false,
  }),
  initial: 'extracting',
  // STOP works from every state; `restarting` and `stopping` override it because a termination
  // is already under way there.
  on: {
    STOP: {
      target: '.stopping',
      actions: spawnChild('terminate', {
        id: TERMINATION,
        input: ({ context }) => ({ generation: context.generation, reason: 'stop' as const }),
      }),
    },
  },
  states: {
    extracting: {
      // Runs before every spawn, not only the first: the digest is re-verified each time.
      invoke: {
        id: 'extract',
        src: 'extract',
        input: ({ context }) => ({ driver: context.driver, instance: context.instance, generation: context.generation + 1 }),
        onDone: { target: 'spawning' },
        // The generation about to start: `spawning` increments it on entry.
        onError: startFailed((context) => context.generation + 1),
      },
      on: {
        // No process yet: leaving cancels the extraction, and the restart waits like any other.
        RESTART: {
          target: 'backoff',
          actions: [{ type: 'setBackoff', params: ({ event }) => ({ delayMs: event.delayMs, hold: event.hold }) }, 'countRestart'],
        },
      },
    },
    spawning: {
      entry: assign({ generation: ({ context }) => context.generation + 1 }),
      invoke: {
        id: 'spawn',
        src: 'spawn',
        input: ({ context }) => ({ driver: context.driver, instance: context.instance, generation: context.generation }),
        onDone: {
          target: 'ready',
          actions: assign(({ event }) => ({ pid: event.output.pid, startedAt: event.output.at, startFailures: 0 })),
        },
        onError: startFailed((context) => context.generation),
      },
      // Leaving `spawning` cancels the spawn actor, so its own failure (which the exit also
      // causes) is never delivered: one crash recorded, not two.
      on: lifeEnds('start'),
    },
    ready: {
      on: { BUSY: { guard: 'isCurrentGeneration', target: 'busy' }, ...recycle, ...lifeEnds('service') },
    },
    busy: {
      on: { IDLE: { guard: 'isCurrentGeneration', target: 'ready' }, ...recycle, ...lifeEnds('service') },
    },
    crashed: {
      // The supervisor decides; this state only waits for its answer.
      entry: 'reportCrash',
      on: {
        RESTART: {
          target: 'backoff',
          actions: [
            { type: 'setBackoff', params: ({ event }) => ({ delayMs: event.delayMs, hold: event.hold }) },
            'countRestart',
          ],
        },
        GIVE_UP: { target: 'failed' },
        RETIRE: { target: 'stopped' },
      },
    },
    backoff: {
      // Back to extracting, not spawning: the image digest is re-verified before every spawn.
      // A zero delay goes on at once: no timer, not even one of 0 ms (a restart would wait a loop
      // turn of the clock for nothing).
      // Held: no timer goes on; the supervisor's next RESTART does.
      always: { guard: 'noBackoff', target: 'extracting' },
      after: { backoff: { guard: 'notHeld', target: 'extracting' } },
      on: {
        // A newer decision replaces the wait (re-entering restarts the timer); it is the same
        // restart, so `restarts` is not counted again.
        RESTART: { target: 'backoff', reenter: true, actions: { type: 'setBackoff', params: ({ event }) => ({ delayMs: event.delayMs, hold: event.hold }) } },
      },
    },
    restarting: {
      // A live process restarted on the supervisor's order (a sibling's crash, or an explicit
      // restart): terminate it first, then wait like any crashed instance.
      entry: spawnChild('terminate', {
        id: TERMINATION,
        input: ({ context }) => ({ generation: context.generation, reason: 'restart' as const }),
      }),
      on: {
        // Terminated or not, it goes on: the runtime has already SIGKILLed what it could.
        ...whenTerminated('backoff', 'countRestart'),
        RESTART: { actions: { type: 'setBackoff', params: ({ event }) => ({ delayMs: event.delayMs, hold: event.hold }) } },
        // The termination under way becomes the stop's: terminate is never called twice.
        STOP: { target: 'stopping' },
      },
    },
    recycling: {
      // Every slot stuck (requests cancelled and never answered): the process is terminated like
      // a restart (`bye`, grace, SIGKILL) but it is no crash — the supervisor is not asked, nothing
      // counts toward intensity, and the next start follows at once. Its exit is the termination's.
      entry: [
        'clearRestartOrder',
        spawnChild('terminate', {
          id: TERMINATION,
          input: ({ context }) => ({ generation: context.generation, reason: 'recycle' as const }),
        }),
      ],
      on: {
        ...recycled('xstate.done.actor.terminate'),
        ...recycled('xstate.error.actor.terminate'),
        // The supervisor restarts it meanwhile (a sibling crashed): the replacement is that restart.
        RESTART: { actions: ['orderRestart', { type: 'setBackoff', params: ({ event }) => ({ delayMs: event.delayMs, hold: event.hold }) }] },
        STOP: { target: 'stopping' },
      },
    },
    failed: {
      // Gave up: no process, nothing to do until someone stops the slot.
    },
    stopping: {
      on: {
        // A failed termination still ends here: the runtime has already SIGKILLed what it could.
        ...whenTerminated('stopped'),
        // Already stopping: swallow it, so the root STOP does not start a second termination.
        STOP: {},
      },
    },
    stopped: {
      type: 'final',
    },
  },
});
