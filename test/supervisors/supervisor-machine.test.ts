import { describe, expect, it } from 'vitest';
import { createActor, fromPromise } from 'xstate';
import type { RestartType, Strategy } from '../../supervisors/strategy.js';
import { supervisorMachine, type RestartOrder, type SupervisorInput } from '../../supervisors/supervisor-machine.js';

interface Options {
  strategy?: Strategy;
  restart?: RestartType[];
  intensity?: SupervisorInput['intensity'];
  startIntensity?: SupervisorInput['startIntensity'];
}

/** A supervisor machine whose injected actions only record what it decided. */
function createSupervisor({ strategy = 'one_for_one', restart = ['permanent', 'permanent', 'permanent'], intensity = { maxRestarts: 3, periodMs: 5_000 }, startIntensity }: Options = {}) {
  const calls = {
    restartChildren: [] as RestartOrder[],
    retireChild: [] as number[],
    stopAllChildren: [] as number[][],
    escalate: [] as string[],
    stopChildren: [] as number[][],
  };
  let finishStopping: { resolve(): void; reject(error: Error): void } | undefined;
  const machine = supervisorMachine.provide({
    actions: {
      restartChildren: (_, params) => {
        calls.restartChildren.push(params);
      },
      retireChild: (_, params) => {
        calls.retireChild.push(params.childIndex);
      },
      stopAllChildren: (_, params) => {
        calls.stopAllChildren.push(params.order);
      },
      escalate: (_, params) => {
        calls.escalate.push(params.reason);
      },
    },
    actors: {
      stopChildren: fromPromise<void, { order: number[] }>(({ input }) => {
        calls.stopChildren.push(input.order);
        return new Promise<void>((resolve, reject) => (finishStopping = { resolve, reject }));
      }),
    },
  });
  const input: SupervisorInput = {
    name: 'drivers',
    strategy,
    intensity,
    ...(startIntensity ? { startIntensity } : {}),
    children: restart.map((type, i) => ({ id: `child${i}`, restart: type })),
  };
  const actor = createActor(machine, { input }).start();
  const crash = (childIndex: number, at: number, extra: { normal?: boolean; phase?: 'start' | 'service'; reason?: string } = {}) =>
    actor.send({ type: 'CHILD_EXITED', childIndex, at, normal: extra.normal ?? false, phase: extra.phase ?? 'service', reason: extra.reason ?? `crash at ${at}` });
  return {
    actor,
    calls,
    crash,
    state: () => actor.getSnapshot().value,
    context: () => actor.getSnapshot().context,
    finishStopping: () => finishStopping!,
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

async function running(options?: Options) {
  const s = createSupervisor(options);
  expect(s.state()).toBe('starting');
  s.actor.send({ type: 'CHILDREN_STARTED' });
  expect(s.state()).toBe('running');
  return s;
}

describe('supervisor machine: which children are restarted', () => {
  const cases: Array<[Strategy, number, number[]]> = [
    ['one_for_one', 1, [1]],
    ['pool', 1, [1]],
    ['one_for_all', 1, [0, 1, 2, 3]],
    ['rest_for_one', 1, [1, 2, 3]],
    ['rest_for_one', 3, [3]],
    ['one_for_all', 0, [0, 1, 2, 3]],
  ];
  for (const [strategy, crashed, indices] of cases) {
    it(`${strategy}: child ${crashed} of 4 crashed → restartChildren ${JSON.stringify(indices)}`, async () => {
      const s = await running({ strategy, restart: ['permanent', 'permanent', 'permanent', 'permanent'] });
      s.crash(crashed, 100, { reason: 'killed by SIGSEGV' });
      expect(s.calls.restartChildren).toEqual([{ indices, remove: [], crashedIndex: crashed, reason: 'killed by SIGSEGV' }]);
      expect(s.context()).toMatchObject({ restarts: 1, lastReason: 'killed by SIGSEGV' });
      expect(s.state()).toBe('running');
    });
  }

  it('restarts a permanent child supervisor that escalated', async () => {
    const s = await running({ strategy: 'rest_for_one', restart: ['permanent', 'permanent', 'permanent'] });
    s.actor.send({ type: 'CHILD_ESCALATED', childIndex: 1, reason: 'inner: more than 3 restarts in 5000 ms', at: 50 });
    expect(s.calls.restartChildren).toEqual([{ indices: [1, 2], remove: [], crashedIndex: 1, reason: 'inner: more than 3 restarts in 5000 ms' }]);
    expect(s.context().serviceWindow).toEqual([50]);
  });

  it('retires a transient child supervisor that escalated: giving up is OTP\'s `shutdown`, not a crash', async () => {
    const s = await running({ strategy: 'rest_for_one', restart: ['permanent', 'transient', 'permanent'] });
    s.actor.send({ type: 'CHILD_ESCALATED', childIndex: 1, reason: 'inner: more than 3 restarts in 5000 ms', at: 50 });
    expect(s.calls.retireChild).toEqual([1]);
    expect(s.calls.restartChildren).toEqual([]);
    expect(s.context()).toMatchObject({ restarts: 0, serviceWindow: [], lastReason: 'inner: more than 3 restarts in 5000 ms' });
  });

  for (const strategy of ['one_for_all', 'rest_for_one'] as const) {
    it(`${strategy}: temporary siblings are removed, not restarted, and stay out of later restarts`, async () => {
      const s = await running({ strategy, restart: ['permanent', 'temporary', 'transient', 'temporary'] });
      s.crash(0, 10);
      expect(s.calls.restartChildren).toEqual([{ indices: [0, 2], remove: [1, 3], crashedIndex: 0, reason: 'crash at 10' }]);
      s.crash(2, 20);
      const again = strategy === 'one_for_all' ? [0, 2] : [2];
      expect(s.calls.restartChildren[1]).toEqual({ indices: again, remove: [], crashedIndex: 2, reason: 'crash at 20' });
      // A late exit of a removed child is not a child any more.
      s.crash(1, 30);
      expect(s.calls.restartChildren).toHaveLength(2);
      expect(s.calls.retireChild).toEqual([]);
    });
  }

  it('a temporary child that ended is removed: it is not part of later group restarts', async () => {
    const s = await running({ strategy: 'one_for_all', restart: ['permanent', 'temporary', 'permanent'] });
    s.crash(1, 10, { normal: true });
    expect(s.calls.retireChild).toEqual([1]);
    s.crash(2, 20);
    expect(s.calls.restartChildren).toEqual([{ indices: [0, 2], remove: [], crashedIndex: 2, reason: 'crash at 20' }]);
  });

  it('retires a temporary child supervisor that escalated', async () => {
    const s = await running({ restart: ['temporary'] });
    s.actor.send({ type: 'CHILD_ESCALATED', childIndex: 0, reason: 'inner gave up', at: 50 });
    expect(s.calls.retireChild).toEqual([0]);
    expect(s.calls.restartChildren).toEqual([]);
  });

  it('ignores an exit of an index that is not a child', async () => {
    const s = await running();
    const before = s.context();
    s.crash(7, 100);
    s.actor.send({ type: 'CHILD_ESCALATED', childIndex: -1, reason: 'x', at: 100 });
    expect(s.calls).toMatchObject({ restartChildren: [], retireChild: [], escalate: [] });
    expect(s.context()).toEqual(before);
  });
});

describe('supervisor machine: restart types', () => {
  it('retires a transient child after a normal exit, without counting it', async () => {
    const s = await running({ restart: ['transient'], intensity: { maxRestarts: 0, periodMs: 5_000 } });
    s.crash(0, 100, { normal: true, reason: 'exited with code 0' });
    expect(s.calls.retireChild).toEqual([0]);
    expect(s.calls.restartChildren).toEqual([]);
    expect(s.calls.escalate).toEqual([]);
    expect(s.context()).toMatchObject({ restarts: 0, serviceWindow: [], lastReason: 'exited with code 0' });
    expect(s.state()).toBe('running');
  });

  it('restarts a transient child after an abnormal exit', async () => {
    const s = await running({ restart: ['transient'] });
    s.crash(0, 100);
    expect(s.calls.restartChildren).toHaveLength(1);
    expect(s.calls.retireChild).toEqual([]);
  });

  it('retires a temporary child whatever the exit', async () => {
    const s = await running({ restart: ['temporary'] });
    s.crash(0, 100, { normal: false });
    expect(s.calls.retireChild).toEqual([0]);
    expect(s.calls.restartChildren).toEqual([]);
  });

  it('restarts a permanent child even after a normal exit', async () => {
    const s = await running({ restart: ['permanent'] });
    s.crash(0, 100, { normal: true });
    expect(s.calls.restartChildren).toEqual([{ indices: [0], remove: [], crashedIndex: 0, reason: 'crash at 100' }]);
  });
});

describe('supervisor machine: intensity', () => {
  it('gives up past the limit: stops every child, then escalates once, naming itself and the limit', async () => {
    const s = await running({ intensity: { maxRestarts: 2, periodMs: 1_000 } });
    s.crash(0, 0);
    s.crash(1, 400);
    expect(s.calls.restartChildren).toHaveLength(2);
    s.crash(2, 900, { reason: 'killed by SIGKILL' });
    expect(s.calls.restartChildren).toHaveLength(2);
    expect(s.calls.stopAllChildren).toEqual([[2, 1, 0]]);
    expect(s.calls.escalate).toEqual(['drivers: more than 2 restarts in 1000 ms (last: killed by SIGKILL)']);
    expect(s.state()).toBe('failed');
    expect(s.actor.getSnapshot().status).toBe('done');
    expect(s.actor.getSnapshot().output).toEqual({ failure: 'drivers: more than 2 restarts in 1000 ms (last: killed by SIGKILL)' });
  });

  it('stops the children before escalating', async () => {
    const order: string[] = [];
    const machine = supervisorMachine.provide({
      actions: {
        restartChildren: () => {},
        retireChild: () => {},
        stopAllChildren: () => order.push('stopAllChildren'),
        escalate: () => order.push('escalate'),
      },
    });
    const actor = createActor(machine, {
      input: { name: 'x', strategy: 'one_for_one', intensity: { maxRestarts: 0, periodMs: 1_000 }, children: [{ id: 'a', restart: 'permanent' }] },
    }).start();
    actor.send({ type: 'CHILDREN_STARTED' });
    actor.send({ type: 'CHILD_EXITED', childIndex: 0, normal: false, phase: 'service', at: 0, reason: 'boom' });
    expect(order).toEqual(['stopAllChildren', 'escalate']);
  });

  it('never gives up on crashes spread wider than the period', async () => {
    const s = await running({ intensity: { maxRestarts: 1, periodMs: 5_000 } });
    for (let i = 0; i < 200; i++) s.crash(i % 3, i * 5_001);
    expect(s.calls.escalate).toEqual([]);
    expect(s.context().restarts).toBe(200);
    expect(s.context().serviceWindow).toEqual([199 * 5_001]);
  });

  it('counts a failed restart like any restart (OTP): maxRestarts 1 gives up at the first failed restart', async () => {
    const s = await running({ intensity: { maxRestarts: 1, periodMs: 5_000 } });
    expect(s.context().startIntensity).toBeNull();
    s.crash(0, 0, { reason: 'killed by SIGKILL' });
    expect(s.calls.restartChildren).toHaveLength(1);
    s.crash(0, 100, { phase: 'start', reason: 'no hello within 2000 ms' });
    expect(s.calls.restartChildren).toHaveLength(1);
    expect(s.calls.escalate).toEqual(['drivers: more than 1 restarts in 5000 ms (last: no hello within 2000 ms)']);
    expect(s.context()).toMatchObject({ serviceWindow: [0], startWindow: [] });
    expect(s.state()).toBe('failed');
  });

  it('with start retries asked for, counts failed starts in their own window and gives up after that limit', async () => {
    const s = await running({ intensity: { maxRestarts: 1, periodMs: 5_000 }, startIntensity: { maxRestarts: 3, periodMs: 60_000 } });
    // Three failed starts in quick succession: more than the service limit of 1, within the start limit.
    for (const at of [0, 100, 200]) s.crash(0, at, { phase: 'start', reason: 'ENOENT' });
    expect(s.calls.escalate).toEqual([]);
    expect(s.context()).toMatchObject({ restarts: 3, serviceWindow: [], startWindow: [0, 100, 200] });
    // The fourth within a minute is one too many.
    s.crash(0, 50_000, { phase: 'start', reason: 'no hello within 2000 ms' });
    expect(s.calls.escalate).toEqual(['drivers: more than 3 failed starts in 60000 ms (last: no hello within 2000 ms)']);
    expect(s.calls.stopAllChildren).toHaveLength(1);
    expect(s.state()).toBe('failed');
  });

  it('with start retries asked for, keeps counting service crashes apart from failed starts', async () => {
    const s = await running({ intensity: { maxRestarts: 1, periodMs: 5_000 }, startIntensity: { maxRestarts: 1, periodMs: 5_000 } });
    s.crash(0, 0, { phase: 'start' });
    s.crash(0, 10, { phase: 'service' });
    expect(s.calls.escalate).toEqual([]);
    s.crash(0, 20, { phase: 'service', reason: 'exit 1' });
    expect(s.calls.escalate).toEqual(['drivers: more than 1 restarts in 5000 ms (last: exit 1)']);
  });

  it('uses the startIntensity it is given', async () => {
    const s = await running({ startIntensity: { maxRestarts: 0, periodMs: 1_000 } });
    s.crash(1, 0, { phase: 'start', reason: 'EACCES' });
    expect(s.calls.escalate).toEqual(['drivers: more than 0 failed starts in 1000 ms (last: EACCES)']);
  });
});

describe('supervisor machine: starting and stopping', () => {
  it('fails to start at once when a child fails its first start (OTP start_link): stops the others and escalates', () => {
    const s = createSupervisor({ intensity: { maxRestarts: 10, periodMs: 5_000 } });
    s.crash(1, 0, { phase: 'start', reason: 'digest mismatch' });
    expect(s.state()).toBe('failed');
    expect(s.calls.restartChildren).toEqual([]);
    expect(s.calls.stopAllChildren).toEqual([[2, 1, 0]]);
    expect(s.calls.escalate).toEqual(['drivers: child child1 failed to start (digest mismatch)']);
    expect(s.context().lastReason).toBe('digest mismatch');
  });

  it('a child supervisor failing its first start fails this start too', () => {
    const s = createSupervisor();
    s.actor.send({ type: 'CHILD_ESCALATED', childIndex: 0, reason: 'inner: child x#0 failed to start (ENOENT)', at: 0, phase: 'start' });
    expect(s.state()).toBe('failed');
    expect(s.calls.escalate).toEqual(['drivers: child child0 failed to start (inner: child x#0 failed to start (ENOENT))']);
  });

  it('a transient child supervisor that gives up while (re)starting is restarted: a failed start, not a shutdown', async () => {
    const s = await running({ restart: ['transient'] });
    s.actor.send({ type: 'CHILD_ESCALATED', childIndex: 0, reason: 'inner: child x#0 failed to start (ENOENT)', at: 5, phase: 'start' });
    expect(s.calls.retireChild).toEqual([]);
    expect(s.calls.restartChildren).toEqual([{ indices: [0], remove: [], crashedIndex: 0, reason: 'inner: child x#0 failed to start (ENOENT)' }]);
    expect(s.context().serviceWindow).toEqual([5]);
  });

  it('with start retries asked for, a failed first start is restarted while starting', () => {
    const s = createSupervisor({ startIntensity: { maxRestarts: 2, periodMs: 60_000 } });
    s.crash(1, 0, { phase: 'start', reason: 'ENOENT' });
    expect(s.state()).toBe('starting');
    expect(s.calls.restartChildren).toEqual([{ indices: [1], remove: [], crashedIndex: 1, reason: 'ENOENT' }]);
    expect(s.context().startWindow).toEqual([0]);
  });

  it('a child that crashes in service while later ones start is restarted, not a failed start', () => {
    const s = createSupervisor({ intensity: { maxRestarts: 1, periodMs: 5_000 } });
    s.crash(0, 0, { phase: 'service', reason: 'killed by SIGKILL' });
    expect(s.state()).toBe('starting');
    expect(s.calls.restartChildren).toHaveLength(1);
    s.actor.send({ type: 'CHILDREN_STARTED' });
    expect(s.state()).toBe('running');
  });

  it('stops its children in reverse start order, then is stopped', async () => {
    const s = await running();
    s.actor.send({ type: 'STOP' });
    expect(s.state()).toBe('stopping');
    expect(s.calls.stopChildren).toEqual([[2, 1, 0]]);
    s.crash(0, 10);
    expect(s.calls.restartChildren).toEqual([]);
    s.finishStopping().resolve();
    await settle();
    expect(s.state()).toBe('stopped');
    expect(s.actor.getSnapshot().status).toBe('done');
    expect(s.calls.escalate).toEqual([]);
  });

  it('is stopped even when stopping a child failed', async () => {
    const s = createSupervisor();
    s.actor.send({ type: 'STOP' });
    s.finishStopping().reject(new Error('EPERM'));
    await settle();
    expect(s.state()).toBe('stopped');
  });

  it('names what the runtime forgot to provide', () => {
    const actor = createActor(supervisorMachine, {
      input: { name: 'x', strategy: 'one_for_one', intensity: { maxRestarts: 3, periodMs: 5_000 }, children: [{ id: 'a', restart: 'permanent' }] },
    });
    const errors: unknown[] = [];
    actor.subscribe({ error: (error) => errors.push(error) });
    actor.start();
    actor.send({ type: 'CHILDREN_STARTED' });
    actor.send({ type: 'CHILD_EXITED', childIndex: 0, normal: false, phase: 'service', at: 0, reason: 'boom' });
    expect(String(errors[0])).toMatch(/not provided: restartChildren/);
  });
});
