import { createActor, fromPromise, SimulatedClock } from 'xstate';
import {
  instanceMachine,
  type ExtractInput,
  type InstanceInput,
  type InstanceStateName,
  type LastExit,
  type SpawnInput,
  type SpawnOutput,
  type TerminateInput,
} from '../../machines/instance.js';

/**
 * The instance machine with fake actors whose promises the test settles by hand, a simulated
 * clock, and a record of every call the machine made to the outside world.
 */

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets settled fake promises reach the actor (their callbacks run on the microtask queue). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Creates a started instance actor with controllable fakes.
 *
 * @example
 * ```ts
 * const h = createInstanceHarness();
 * await h.toReady();
 * ```
 */
export function createInstanceHarness(input: InstanceInput = { driver: 'png', instance: 'i-1' }) {
  const calls = {
    extract: [] as ExtractInput[],
    spawn: [] as SpawnInput[],
    terminate: [] as TerminateInput[],
    kill: [] as Array<{ generation: number }>,
    reportCrash: [] as Array<LastExit | null>,
  };
  const pending = {
    extract: [] as Array<Deferred<void>>,
    spawn: [] as Array<Deferred<SpawnOutput>>,
    terminate: [] as Array<Deferred<void>>,
  };
  const machine = instanceMachine.provide({
    actors: {
      extract: fromPromise<void, ExtractInput>(({ input }) => {
        calls.extract.push(input);
        const d = deferred<void>();
        pending.extract.push(d);
        return d.promise;
      }),
      spawn: fromPromise<SpawnOutput, SpawnInput>(({ input }) => {
        calls.spawn.push(input);
        const d = deferred<SpawnOutput>();
        pending.spawn.push(d);
        return d.promise;
      }),
      terminate: fromPromise<void, TerminateInput>(({ input }) => {
        calls.terminate.push(input);
        const d = deferred<void>();
        pending.terminate.push(d);
        return d.promise;
      }),
    },
    actions: {
      kill: (_, params) => {
        calls.kill.push(params);
      },
      reportCrash: ({ context }) => {
        calls.reportCrash.push(context.lastExit);
      },
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, { input, clock });
  const errors: unknown[] = [];
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.start();

  const last = <T>(list: T[], what: string): T => {
    const item = list.at(-1);
    if (item === undefined) throw new Error(`no ${what} call to settle`);
    return item;
  };

  const h = {
    actor,
    clock,
    calls,
    errors,
    state: () => actor.getSnapshot().value as InstanceStateName,
    context: () => actor.getSnapshot().context,
    send: (event: Parameters<typeof actor.send>[0]) => actor.send(event),
    async extractDone() {
      last(pending.extract, 'extract').resolve();
      await settle();
    },
    async extractFails(message: string) {
      last(pending.extract, 'extract').reject(new Error(message));
      await settle();
    },
    async spawnDone(output: SpawnOutput = { pid: 1000 + calls.spawn.length, at: clock.now() }) {
      last(pending.spawn, 'spawn').resolve(output);
      await settle();
    },
    async spawnFails(message: string) {
      last(pending.spawn, 'spawn').reject(new Error(message));
      await settle();
    },
    async terminateDone() {
      last(pending.terminate, 'terminate').resolve();
      await settle();
    },
    async terminateFails(message: string) {
      last(pending.terminate, 'terminate').reject(new Error(message));
      await settle();
    },
    /** From extracting (fresh or after backoff) to ready. */
    async toReady() {
      await h.extractDone();
      await h.spawnDone();
    },
    /** Ready, then crashed by an exit of the current process. */
    async toCrashed() {
      await h.toReady();
      h.send({ type: 'EXIT', generation: h.context().generation, code: 1, signal: null });
    },
    /** Drives a fresh harness to `state` by the shortest natural route. */
    async reach(state: Exclude<InstanceStateName, 'stopped'>) {
      switch (state) {
        case 'extracting':
          return;
        case 'spawning':
          return h.extractDone();
        case 'ready':
          return h.toReady();
        case 'busy':
          await h.toReady();
          return h.send({ type: 'BUSY', generation: h.context().generation });
        case 'crashed':
          return h.toCrashed();
        case 'backoff':
          await h.toCrashed();
          return h.send({ type: 'RESTART', delayMs: 1_000 });
        case 'restarting':
          await h.toReady();
          return h.send({ type: 'RESTART', delayMs: 1_000 });
        case 'recycling':
          await h.toReady();
          h.send({ type: 'BUSY', generation: h.context().generation });
          return h.send({ type: 'RECYCLE', generation: h.context().generation, reason: 'every slot stuck' });
        case 'failed':
          await h.toCrashed();
          return h.send({ type: 'GIVE_UP', reason: 'too many' });
        case 'stopping':
          await h.toReady();
          return h.send({ type: 'STOP' });
      }
    },
  };
  return h;
}
