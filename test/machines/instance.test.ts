import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { INSTANCE_STATES, instanceMachine, type InstanceStateName } from '../../machines/instance.js';
import { createInstanceHarness, settle } from './instance-harness.js';

describe('instance machine: a healthy start', () => {
  it('extracts, spawns with the next generation, and becomes ready', async () => {
    const h = createInstanceHarness();
    expect(h.state()).toBe('extracting');
    expect(h.context().generation).toBe(0);
    expect(h.calls.extract).toEqual([{ driver: 'png', instance: 'i-1', generation: 1 }]);

    await h.extractDone();
    expect(h.state()).toBe('spawning');
    expect(h.context().generation).toBe(1);
    expect(h.calls.spawn).toEqual([{ driver: 'png', instance: 'i-1', generation: 1 }]);

    await h.spawnDone({ pid: 4242, at: 1_234 });
    expect(h.state()).toBe('ready');
    expect(h.context()).toMatchObject({ pid: 4242, startedAt: 1_234, startFailures: 0, restarts: 0, lastExit: null });
    expect(h.errors).toEqual([]);
  });

  it('continues the generation numbering given in its input', async () => {
    const h = createInstanceHarness({ driver: 'png', instance: 'i-1', generation: 7 });
    expect(h.calls.extract[0]?.generation).toBe(8);
    await h.toReady();
    expect(h.context().generation).toBe(8);
  });

  it('moves between ready and busy on edges of the current generation', async () => {
    const h = createInstanceHarness();
    await h.toReady();
    h.send({ type: 'BUSY', generation: 1 });
    expect(h.state()).toBe('busy');
    h.send({ type: 'BUSY', generation: 1 });
    expect(h.state()).toBe('busy');
    h.send({ type: 'IDLE', generation: 1 });
    expect(h.state()).toBe('ready');
    h.send({ type: 'IDLE', generation: 1 });
    expect(h.state()).toBe('ready');
  });

  it('has a flat state value, always one of INSTANCE_STATES', async () => {
    const h = createInstanceHarness();
    const seen = new Set<string>();
    h.actor.subscribe((snapshot) => seen.add(JSON.stringify(snapshot.value)));
    await h.toCrashed();
    h.send({ type: 'RESTART', delayMs: 10 });
    h.clock.increment(10);
    await h.toReady();
    h.send({ type: 'STOP' });
    await h.terminateDone();
    for (const value of seen) expect(INSTANCE_STATES).toContain(JSON.parse(value));
    expect(seen.size).toBeGreaterThanOrEqual(7);
  });
});

describe('instance machine: the generation guard (isCurrentGeneration)', () => {
  /** Ready on generation 2, with generation 1's process long gone. */
  async function onSecondGeneration() {
    const h = createInstanceHarness();
    await h.toCrashed();
    h.send({ type: 'RESTART', delayMs: 0 });
    h.clock.increment(0);
    await h.toReady();
    expect(h.context().generation).toBe(2);
    return h;
  }

  const stale = [
    { type: 'EXIT', generation: 1, code: null, signal: 'SIGKILL' },
    { type: 'FAULT', generation: 1, reason: 'late heartbeat of the old process' },
    { type: 'BUSY', generation: 1 },
    { type: 'IDLE', generation: 1 },
    { type: 'EXIT', generation: 3, code: 1, signal: null },
  ] as const;

  for (const from of ['ready', 'busy'] as const) {
    for (const event of stale) {
      it(`ignores ${event.type} of generation ${event.generation} in ${from} (state and context unchanged)`, async () => {
        const h = await onSecondGeneration();
        if (from === 'busy') h.send({ type: 'BUSY', generation: 2 });
        const before = h.actor.getSnapshot();
        const reports = h.calls.reportCrash.length;
        h.send(event);
        expect(h.state()).toBe(from);
        expect(h.actor.getSnapshot().context).toEqual(before.context);
        expect(h.calls.kill).toEqual([]);
        expect(h.calls.reportCrash).toHaveLength(reports);
      });
    }
  }

  it('ignores an EXIT of the previous generation while the next one is spawning', async () => {
    const h = createInstanceHarness();
    await h.toCrashed();
    h.send({ type: 'RESTART', delayMs: 0 });
    h.clock.increment(0);
    await h.extractDone();
    expect(h.state()).toBe('spawning');
    const before = h.context();
    h.send({ type: 'EXIT', generation: 1, code: 1, signal: null });
    expect(h.state()).toBe('spawning');
    expect(h.context()).toEqual(before);
  });

  it('applies events of the current generation (the other branch of the guard)', async () => {
    const h = await onSecondGeneration();
    h.send({ type: 'EXIT', generation: 2, code: null, signal: 'SIGSEGV' });
    expect(h.state()).toBe('crashed');
    expect(h.context().lastExit).toEqual({ code: null, signal: 'SIGSEGV', reason: 'exit', phase: 'service', generation: 2 });
  });
});

describe('instance machine: crashes', () => {
  it('records an exit in service and reports it once', async () => {
    const h = createInstanceHarness();
    await h.toReady();
    h.send({ type: 'BUSY', generation: 1 });
    h.send({ type: 'EXIT', generation: 1, code: 3, signal: null });
    expect(h.state()).toBe('crashed');
    expect(h.context()).toMatchObject({
      pid: null,
      startedAt: null,
      startFailures: 0,
      lastExit: { code: 3, signal: null, reason: 'exit', phase: 'service', generation: 1 },
    });
    expect(h.calls.reportCrash).toEqual([h.context().lastExit]);
    expect(h.calls.kill).toEqual([]);
  });

  for (const from of ['ready', 'busy'] as const) {
    it(`kills the process on a FAULT in ${from}`, async () => {
      const h = createInstanceHarness();
      await h.reach(from);
      h.send({ type: 'FAULT', generation: 1, reason: 'invalid response' });
      expect(h.state()).toBe('crashed');
      expect(h.calls.kill).toEqual([{ generation: 1 }]);
      expect(h.context().lastExit).toEqual({ code: null, signal: null, reason: 'invalid response', phase: 'service', generation: 1 });
      expect(h.calls.reportCrash).toHaveLength(1);
    });
  }

  it('records a failed extraction as a start failure of the attempt', async () => {
    const h = createInstanceHarness();
    await h.extractFails('digest mismatch');
    expect(h.state()).toBe('crashed');
    expect(h.context().lastExit).toEqual({ code: null, signal: null, reason: 'digest mismatch', phase: 'start', generation: 1 });
    expect(h.context().startFailures).toBe(1);
    expect(h.calls.spawn).toEqual([]);
  });

  it('counts consecutive start failures and resets them on reaching ready', async () => {
    const h = createInstanceHarness();
    await h.extractDone();
    await h.spawnFails('no hello within 2000 ms');
    expect(h.state()).toBe('crashed');
    expect(h.context()).toMatchObject({ startFailures: 1, lastExit: { reason: 'no hello within 2000 ms', phase: 'start', generation: 1 } });

    h.send({ type: 'RESTART', delayMs: 0 });
    h.clock.increment(0);
    await h.extractDone();
    await h.spawnFails('ENOENT');
    expect(h.context().startFailures).toBe(2);
    expect(h.context().generation).toBe(2);

    h.send({ type: 'RESTART', delayMs: 0 });
    h.clock.increment(0);
    await h.toReady();
    expect(h.context().startFailures).toBe(0);
    expect(h.calls.reportCrash).toHaveLength(2);
  });

  it('records one crash when the process exits during spawning and the spawn then fails', async () => {
    const h = createInstanceHarness();
    await h.extractDone();
    h.send({ type: 'EXIT', generation: 1, code: 127, signal: null });
    expect(h.state()).toBe('crashed');
    await h.spawnFails('process exited before hello');
    expect(h.state()).toBe('crashed');
    expect(h.calls.reportCrash).toEqual([{ code: 127, signal: null, reason: 'exit', phase: 'start', generation: 1 }]);
    expect(h.context().startFailures).toBe(1);
    expect(h.errors).toEqual([]);
  });

  it('records one crash when the spawn fails and the exit arrives afterwards', async () => {
    const h = createInstanceHarness();
    await h.extractDone();
    await h.spawnFails('process exited before hello');
    h.send({ type: 'EXIT', generation: 1, code: 127, signal: null });
    expect(h.state()).toBe('crashed');
    expect(h.calls.reportCrash).toHaveLength(1);
    expect(h.context().lastExit?.reason).toBe('process exited before hello');
    expect(h.context().startFailures).toBe(1);
  });

  it('treats a FAULT during spawning as a start failure and kills the process', async () => {
    const h = createInstanceHarness();
    await h.extractDone();
    h.send({ type: 'FAULT', generation: 1, reason: 'protocol: bad hello' });
    expect(h.state()).toBe('crashed');
    expect(h.calls.kill).toEqual([{ generation: 1 }]);
    expect(h.context()).toMatchObject({ startFailures: 1, lastExit: { phase: 'start', reason: 'protocol: bad hello' } });
  });

  it('ignores process events while crashed', async () => {
    const h = createInstanceHarness();
    await h.toCrashed();
    const before = h.context();
    h.send({ type: 'EXIT', generation: 1, code: 0, signal: null });
    h.send({ type: 'FAULT', generation: 1, reason: 'late' });
    h.send({ type: 'BUSY', generation: 1 });
    expect(h.state()).toBe('crashed');
    expect(h.context()).toEqual(before);
    expect(h.calls.reportCrash).toHaveLength(1);
  });
});

describe("instance machine: the supervisor's decisions", () => {
  it('waits exactly backoffMs on the clock, then extracts again', async () => {
    const h = createInstanceHarness();
    await h.toCrashed();
    h.send({ type: 'RESTART', delayMs: 250 });
    expect(h.state()).toBe('backoff');
    expect(h.context()).toMatchObject({ backoffMs: 250, restarts: 1 });
    h.clock.increment(249);
    expect(h.state()).toBe('backoff');
    expect(h.calls.extract).toHaveLength(1);
    h.clock.increment(1);
    expect(h.state()).toBe('extracting');
    expect(h.calls.extract).toEqual([
      { driver: 'png', instance: 'i-1', generation: 1 },
      { driver: 'png', instance: 'i-1', generation: 2 },
    ]);
    await h.toReady();
    expect(h.context().generation).toBe(2);
  });

  it('replaces the wait when a new RESTART arrives during backoff, without counting a restart', async () => {
    const h = createInstanceHarness();
    await h.toCrashed();
    h.send({ type: 'RESTART', delayMs: 1_000 });
    h.clock.increment(600);
    h.send({ type: 'RESTART', delayMs: 300 });
    expect(h.context()).toMatchObject({ backoffMs: 300, restarts: 1 });
    h.clock.increment(299);
    expect(h.state()).toBe('backoff');
    h.clock.increment(1); // 900 ms in: the old 1000 ms timer would not have fired yet
    expect(h.state()).toBe('extracting');
    h.clock.increment(1_000); // and the cancelled one never fires later
    expect(h.calls.extract).toHaveLength(2);
  });

  it('clamps a negative delay to zero', async () => {
    const h = createInstanceHarness();
    await h.toCrashed();
    h.send({ type: 'RESTART', delayMs: -5 });
    expect(h.context().backoffMs).toBe(0);
    expect(h.state()).toBe('extracting');
  });

  it('goes straight on after a zero delay, without the clock moving (regression: a 0 ms timer cost every cold restart a loop turn)', async () => {
    const h = createInstanceHarness();
    await h.toCrashed();
    const before = h.clock.now();
    h.send({ type: 'RESTART', delayMs: 0 });
    expect(h.state()).toBe('extracting');
    expect(h.clock.now()).toBe(before);
    expect(h.calls.extract).toHaveLength(2);
    expect(h.context().restarts).toBe(1);
  });

  it('a zero delay during a wait ends the wait at once, and a restart from a live process skips it too', async () => {
    const h = createInstanceHarness();
    await h.toCrashed();
    h.send({ type: 'RESTART', delayMs: 1_000 });
    h.send({ type: 'RESTART', delayMs: 0 });
    expect(h.state()).toBe('extracting');
    expect(h.context().restarts).toBe(1);
    h.clock.increment(1_000); // the cancelled timer never fires
    expect(h.calls.extract).toHaveLength(2);

    await h.toReady();
    h.send({ type: 'RESTART', delayMs: 0 });
    expect(h.state()).toBe('restarting');
    await h.terminateDone();
    expect(h.state()).toBe('extracting');
    expect(h.calls.extract).toHaveLength(3);
  });

  it('gives up on GIVE_UP and stays failed until stopped', async () => {
    const h = createInstanceHarness();
    await h.toCrashed();
    h.send({ type: 'GIVE_UP', reason: 'more than 3 restarts in 5000 ms' });
    expect(h.state()).toBe('failed');
    h.send({ type: 'RESTART', delayMs: 0 });
    h.clock.increment(100_000);
    expect(h.state()).toBe('failed');
    expect(h.actor.getSnapshot().status).toBe('active');
    h.send({ type: 'STOP' });
    expect(h.state()).toBe('stopping');
    await h.terminateDone();
    expect(h.state()).toBe('stopped');
  });

  it('retires without terminating anything on RETIRE', async () => {
    const h = createInstanceHarness();
    await h.toCrashed();
    h.send({ type: 'RETIRE' });
    expect(h.state()).toBe('stopped');
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.calls.terminate).toEqual([]);
  });

  for (const from of ['ready', 'busy', 'spawning'] as const) {
    it(`restarts a live instance from ${from}: terminate, then backoff`, async () => {
      const h = createInstanceHarness();
      await h.reach(from);
      h.send({ type: 'RESTART', delayMs: 500 });
      expect(h.state()).toBe('restarting');
      expect(h.calls.terminate).toEqual([{ generation: 1, reason: 'restart' }]);
      expect(h.context().restarts).toBe(0);
      await h.terminateDone();
      expect(h.state()).toBe('backoff');
      expect(h.context()).toMatchObject({ restarts: 1, backoffMs: 500, pid: null });
      h.clock.increment(500);
      expect(h.state()).toBe('extracting');
    });
  }

  it('restarts while extracting (regression: a RESTART there was ignored): the extraction is dropped, the restart waits its delay', async () => {
    const h = createInstanceHarness();
    expect(h.state()).toBe('extracting');
    h.send({ type: 'RESTART', delayMs: 300 });
    expect(h.state()).toBe('backoff');
    expect(h.context()).toMatchObject({ restarts: 1, backoffMs: 300, generation: 0 });
    await h.extractDone(); // the dropped extraction finishing late changes nothing
    expect(h.state()).toBe('backoff');
    expect(h.calls.spawn).toEqual([]);
    h.clock.increment(300);
    expect(h.state()).toBe('extracting');
    expect(h.calls.extract).toHaveLength(2);
    await h.toReady();
    expect(h.context().generation).toBe(1);
    expect(h.calls.terminate).toEqual([]);
  });

  for (const from of ['extracting', 'spawning', 'ready', 'crashed', 'backoff'] as const) {
    it(`a held RESTART from ${from} waits in backoff, whatever the clock, until the next RESTART`, async () => {
      const h = createInstanceHarness();
      await h.reach(from);
      h.send({ type: 'RESTART', delayMs: 0, hold: true });
      if (h.state() === 'restarting') await h.terminateDone();
      expect(h.state()).toBe('backoff');
      expect(h.context().held).toBe(true);
      const extracts = h.calls.extract.length;
      h.clock.increment(60_000);
      await settle();
      expect(h.state()).toBe('backoff');
      expect(h.calls.extract).toHaveLength(extracts);
      h.send({ type: 'RESTART', delayMs: 0 });
      expect(h.state()).toBe('extracting');
      expect(h.context().held).toBe(false);
    });
  }

  it('goes to backoff even when the termination for a restart fails', async () => {
    const h = createInstanceHarness();
    await h.reach('restarting');
    await h.terminateFails('EPERM');
    expect(h.state()).toBe('backoff');
    expect(h.context().restarts).toBe(1);
    expect(h.errors).toEqual([]);
  });

  it('ignores the exit and faults of the process it is terminating, and takes the latest delay', async () => {
    const h = createInstanceHarness();
    await h.reach('restarting');
    h.send({ type: 'EXIT', generation: 1, code: 0, signal: null });
    h.send({ type: 'FAULT', generation: 1, reason: 'late' });
    h.send({ type: 'RESTART', delayMs: 42 });
    expect(h.state()).toBe('restarting');
    expect(h.calls.reportCrash).toEqual([]);
    expect(h.calls.kill).toEqual([]);
    await h.terminateDone();
    expect(h.context().backoffMs).toBe(42);
    expect(h.calls.terminate).toHaveLength(1);
  });
});

describe('instance machine: recycling (every slot stuck)', () => {
  it('terminates the process with reason recycle and starts afresh at once: no crash reported, no restart counted', async () => {
    const h = createInstanceHarness();
    await h.reach('recycling');
    expect(h.state()).toBe('recycling');
    expect(h.calls.terminate).toEqual([{ generation: 1, reason: 'recycle' }]);
    await h.terminateDone();
    expect(h.state()).toBe('extracting');
    expect(h.context()).toMatchObject({ recycles: 1, restarts: 0, pid: null });
    expect(h.calls.reportCrash).toEqual([]);
    expect(h.calls.kill).toEqual([]);
    await h.toReady();
    expect(h.context().generation).toBe(2);
  });

  it('ignores a RECYCLE of an older generation, and the exit and faults of the process it recycles', async () => {
    const h = createInstanceHarness();
    await h.reach('busy');
    h.send({ type: 'RECYCLE', generation: 0, reason: 'stale' });
    expect(h.state()).toBe('busy');
    h.send({ type: 'RECYCLE', generation: 1, reason: 'every slot stuck' });
    h.send({ type: 'EXIT', generation: 1, code: 0, signal: null });
    h.send({ type: 'FAULT', generation: 1, reason: 'late' });
    expect(h.state()).toBe('recycling');
    expect(h.calls.reportCrash).toEqual([]);
    expect(h.calls.kill).toEqual([]);
  });

  it('a restart ordered by the supervisor meanwhile becomes that restart: its backoff, counted once', async () => {
    const h = createInstanceHarness();
    await h.reach('recycling');
    h.send({ type: 'RESTART', delayMs: 250 });
    expect(h.calls.terminate).toHaveLength(1);
    await h.terminateFails('EPERM');
    expect(h.state()).toBe('backoff');
    expect(h.context()).toMatchObject({ restarts: 1, recycles: 0, backoffMs: 250 });
    h.clock.increment(250);
    expect(h.state()).toBe('extracting');
  });
});

describe('instance machine: STOP', () => {
  // Every state but the final one.
  const stoppable = INSTANCE_STATES.filter((state): state is Exclude<InstanceStateName, 'stopped'> => state !== 'stopped');

  for (const from of stoppable) {
    it(`reaches stopped from ${from}, calling terminate once`, async () => {
      const h = createInstanceHarness();
      await h.reach(from);
      expect(h.state()).toBe(from);
      h.send({ type: 'STOP' });
      expect(h.state()).toBe('stopping');
      h.send({ type: 'STOP' });
      expect(h.calls.terminate).toHaveLength(1);
      await h.terminateDone();
      expect(h.state()).toBe('stopped');
      expect(h.actor.getSnapshot().status).toBe('done');
      expect(h.context().pid).toBeNull();
      expect(h.calls.terminate).toHaveLength(1);
      expect(h.errors).toEqual([]);
    });
  }

  it("asks terminate to stop the current generation", async () => {
    const h = createInstanceHarness();
    await h.reach('busy');
    h.send({ type: 'STOP' });
    expect(h.calls.terminate).toEqual([{ generation: 1, reason: 'stop' }]);
  });

  it('does not start a process once stopped during extracting or spawning', async () => {
    const h = createInstanceHarness();
    await h.reach('spawning');
    h.send({ type: 'STOP' });
    await h.spawnDone({ pid: 9, at: 0 });
    expect(h.state()).toBe('stopping');
    expect(h.context().pid).toBeNull();
  });

  it('ignores EXIT, FAULT and RESTART while stopping', async () => {
    const h = createInstanceHarness();
    await h.reach('stopping');
    const before = h.context();
    h.send({ type: 'EXIT', generation: 1, code: 0, signal: null });
    h.send({ type: 'FAULT', generation: 1, reason: 'heartbeat' });
    h.send({ type: 'RESTART', delayMs: 10 });
    h.clock.increment(1_000);
    expect(h.state()).toBe('stopping');
    expect(h.context()).toEqual(before);
    expect(h.calls.kill).toEqual([]);
    expect(h.calls.reportCrash).toEqual([]);
  });

  it('reaches stopped even when terminate fails', async () => {
    const h = createInstanceHarness();
    await h.reach('stopping');
    await h.terminateFails('ESRCH');
    expect(h.state()).toBe('stopped');
    expect(h.errors).toEqual([]);
  });
});

describe('instance machine: placeholders', () => {
  it('names what the runtime forgot to provide', async () => {
    const actor = createActor(instanceMachine.provide({ actions: { reportCrash: () => {} } }), {
      input: { driver: 'png', instance: 'i-1' },
    }).start();
    await settle();
    expect(actor.getSnapshot().value).toBe('crashed');
    expect(actor.getSnapshot().context.lastExit?.reason).toMatch(/^not provided: extract/);
  });

  it('fails loudly when an injected action is missing', async () => {
    const actor = createActor(instanceMachine, { input: { driver: 'png', instance: 'i-1' } });
    const errors: unknown[] = [];
    actor.subscribe({ error: (error) => errors.push(error) });
    actor.start();
    await settle();
    expect(actor.getSnapshot().status).toBe('error');
    expect(String(errors[0])).toMatch(/not provided: reportCrash/);
  });
});
