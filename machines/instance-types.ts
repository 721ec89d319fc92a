/**
 * The vocabulary of the instance lifecycle machine: its input, context, events and state names.
 * Kept apart from the machine so runtime code and tests can name these types without reading
 * the state chart, and so the chart file holds only the chart.
 */

/**
 * Every state of the instance machine, in the order a healthy start walks through them first.
 *
 * @example
 * ```ts
 * for (const state of INSTANCE_STATES) console.log(state); // 'extracting', 'spawning', ...
 * ```
 */
export const INSTANCE_STATES = [
  'extracting',
  'spawning',
  'ready',
  'busy',
  'crashed',
  'backoff',
  'restarting',
  'recycling',
  'failed',
  'stopping',
  'stopped',
] as const;

/**
 * The name of one instance state (the machine is flat, so `snapshot.value` is always one of these).
 *
 * @example
 * ```ts
 * const state = actor.getSnapshot().value as InstanceStateName;
 * ```
 */
export type InstanceStateName = (typeof INSTANCE_STATES)[number];

/**
 * What the machine is started with.
 *
 * @example
 * ```ts
 * createActor(instanceMachine.provide(impl), { input: { driver: 'png', instance: 'V1StGXR8_Z' } });
 * ```
 */
export interface InstanceInput {
  driver: string;
  instance: string;
  /**
   * The generation to count on from (default 0). A slot revived after `stopped`/`failed` gets a
   * new actor; continuing its numbering keeps late events of the old processes stale.
   */
  generation?: number;
}

/**
 * How the last process (or start attempt) ended, as handed to the supervisor.
 *
 * @example
 * ```ts
 * const last: LastExit = { code: 1, signal: null, reason: 'exit', phase: 'service', generation: 3 };
 * ```
 */
export interface LastExit {
  code: number | null;
  signal: string | null;
  reason: string;
  /** `start` when it never reached ready: the supervisor counts those apart and gives up faster. */
  phase: 'start' | 'service';
  /** The process generation (or, for a failed extraction, the start attempt's generation). */
  generation: number;
}

/**
 * The machine's memory: plain data only, so snapshots can be shown and persisted.
 *
 * @example
 * ```ts
 * const { generation, pid, restarts } = actor.getSnapshot().context;
 * ```
 */
export interface InstanceContext {
  driver: string;
  instance: string;
  /** 0 before the first start, incremented on each entry to `spawning`. */
  generation: number;
  /** The live process, or null when there is none. */
  pid: number | null;
  /** Restarts carried out (a delay replaced while waiting in backoff is not a new restart). */
  restarts: number;
  /** Consecutive failures while extracting/spawning; reset on reaching ready. */
  startFailures: number;
  lastExit: LastExit | null;
  /** The wait before the next start, as decided by the supervisor. */
  backoffMs: number;
  /** Graceful replacements of a live process that could serve no more (not restarts, not crashes). */
  recycles: number;
  /** A supervisor's RESTART arrived while recycling: the replacement then waits its backoff and counts as a restart. */
  restartOrdered: boolean;
  /** Held in `backoff` until the next RESTART: its supervisor starts its children one by one. */
  held: boolean;
  /** When the live process became ready (the `at` of the spawn result), null when there is none. */
  startedAt: number | null;
}

/**
 * Events the runtime and the supervisor send to an instance.
 *
 * Events about a process carry its `generation`; they are dropped unless it is the current one.
 *
 * @example
 * ```ts
 * actor.send({ type: 'EXIT', generation: 2, code: null, signal: 'SIGSEGV' });
 * actor.send({ type: 'RESTART', delayMs: 200 });
 * ```
 */
export type InstanceEvent =
  /** The first request went in flight (the runtime sends only the idle→busy edge). */
  | { type: 'BUSY'; generation: number }
  /** The last in-flight request settled. */
  | { type: 'IDLE'; generation: number }
  /** The process ended. */
  | { type: 'EXIT'; generation: number; code: number | null; signal: string | null }
  /** The process is presumed hung or compromised (protocol, invalid answer, heartbeat). */
  | { type: 'FAULT'; generation: number; reason: string }
  /** The process can serve no more through no fault of its own (every slot stuck): replace it gracefully. */
  | { type: 'RECYCLE'; generation: number; reason: string }
  /**
   * Supervisor: start again after `delayMs` (also terminates a live process first). With `hold`,
   * wait in `backoff` for a further RESTART instead (a group restart starts children in order).
   */
  | { type: 'RESTART'; delayMs: number; hold?: boolean }
  /** Supervisor: no more restarts. */
  | { type: 'GIVE_UP'; reason: string }
  /** Supervisor: not restarted, by design (temporary child, or transient after a normal exit). */
  | { type: 'RETIRE' }
  /** Stop for good. */
  | { type: 'STOP' };

/**
 * Input of the injected `extract` actor: write and verify the image for this start attempt.
 *
 * @example
 * ```ts
 * extract: fromPromise(async ({ input }: { input: ExtractInput }) => loader.ensure(input.driver)),
 * ```
 */
export interface ExtractInput {
  driver: string;
  instance: string;
  /** The generation the following spawn will have. */
  generation: number;
}

/**
 * Input of the injected `spawn` actor: start the process and wait for its `hello`.
 *
 * @example
 * ```ts
 * spawn: fromPromise(async ({ input }: { input: SpawnInput }) => ({ pid: 42, at: clock.now() })),
 * ```
 */
export interface SpawnInput {
  driver: string;
  instance: string;
  generation: number;
}

/**
 * Output of the injected `spawn` actor.
 *
 * @example
 * ```ts
 * const started: SpawnOutput = { pid: child.pid, at: clock.now() };
 * ```
 */
export interface SpawnOutput {
  pid: number;
  /** When the process said hello (ms, from the runtime's clock: machines have none). */
  at: number;
}

/**
 * Input of the injected `terminate` actor: `bye`, a grace period, then SIGKILL.
 *
 * @example
 * ```ts
 * terminate: fromPromise(async ({ input }: { input: TerminateInput }) => proc.terminate(graceMs)),
 * ```
 */
export interface TerminateInput {
  generation: number;
  reason: 'restart' | 'stop' | 'recycle';
}
