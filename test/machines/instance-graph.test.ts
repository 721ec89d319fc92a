import { getShortestPaths } from '@xstate/graph';
import { describe, expect, it } from 'vitest';
import { transition, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { INSTANCE_STATES, instanceMachine } from '../../machines/instance.js';

type Snapshot = SnapshotFrom<typeof instanceMachine>;
type Event = EventFromLogic<typeof instanceMachine>;

/** The delayed event of `backoff`, read from the chart rather than spelled by hand. */
const backoffElapsed = instanceMachine.root.states.backoff!.after[0]!.eventType;

/**
 * Everything the outside world can do, in any state: the runtime's and supervisor's events
 * (for the current generation, and a stale one), and the completions of the injected actors.
 */
function everyEvent(snapshot: Snapshot): Event[] {
  const generation = snapshot.context.generation;
  // Internal events (actor completions, timers) are not part of the public event type.
  const internal = (event: { type: string; [key: string]: unknown }) => event as unknown as Event;
  return [
    { type: 'BUSY', generation },
    { type: 'IDLE', generation },
    { type: 'EXIT', generation, code: 1, signal: null },
    { type: 'EXIT', generation: generation - 1, code: 1, signal: null },
    { type: 'FAULT', generation, reason: 'heartbeat' },
    { type: 'RECYCLE', generation, reason: 'every slot stuck' },
    { type: 'RESTART', delayMs: 100 },
    { type: 'GIVE_UP', reason: 'limit' },
    { type: 'RETIRE' },
    { type: 'STOP' },
    internal({ type: 'xstate.done.actor.extract', output: undefined }),
    internal({ type: 'xstate.error.actor.extract', error: new Error('digest') }),
    internal({ type: 'xstate.done.actor.spawn', output: { pid: 1, at: 0 } }),
    internal({ type: 'xstate.error.actor.spawn', error: new Error('no hello') }),
    internal({ type: 'xstate.done.actor.terminate', output: undefined }),
    internal({ type: 'xstate.error.actor.terminate', error: new Error('EPERM') }),
    internal({ type: backoffElapsed }),
  ];
}

describe('instance machine: reachability (@xstate/graph)', () => {
  it('reaches every state from the initial one', () => {
    const paths = getShortestPaths(instanceMachine, {
      input: { driver: 'png', instance: 'i-1' },
      events: everyEvent,
      // One vertex per state name: the context (generation, restarts) would make the graph infinite.
      serializeState: (snapshot) => JSON.stringify(snapshot.value),
    });
    const reached = new Set(paths.map((path) => path.state.value));
    expect([...reached].sort()).toEqual([...INSTANCE_STATES].sort());
  });

  it('reaches ready in exactly extract → spawn', () => {
    const paths = getShortestPaths(instanceMachine, {
      input: { driver: 'png', instance: 'i-1' },
      events: everyEvent,
      serializeState: (snapshot) => JSON.stringify(snapshot.value),
      toState: (snapshot) => snapshot.value === 'ready',
    });
    const toReady = paths.find((path) => path.state.value === 'ready');
    expect(toReady?.steps.map((step) => step.event.type)).toEqual(['xstate.init', 'xstate.done.actor.extract', 'xstate.done.actor.spawn']);
  });

  it('cannot leave stopped (final) and only leaves failed by STOP', () => {
    const paths = getShortestPaths(instanceMachine, {
      input: { driver: 'png', instance: 'i-1' },
      events: everyEvent,
      serializeState: (snapshot) => JSON.stringify(snapshot.value),
    });
    const failed = paths.find((path) => path.state.value === 'failed')!.state;
    const stopped = paths.find((path) => path.state.value === 'stopped')!.state;
    const next = (snapshot: Snapshot, event: Event) => transition(instanceMachine, snapshot, event)[0].value;
    const leaving = everyEvent(failed).filter((event) => next(failed, event) !== 'failed');
    expect(leaving.map((event) => event.type)).toEqual(['STOP']);
    expect(stopped.status).toBe('done');
  });
});
