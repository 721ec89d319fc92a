import { describe, expect, it } from 'vitest';
import { failure, fixtureDriver, gone, outcomes, pidsOf, until, useManagers } from './harness.js';

/**
 * A deadline is the caller's patience, not the handler's health. These run real handlers: a
 * request past its deadline fails that caller alone, the handler keeps serving, nothing restarts
 * and nothing counts toward intensity; only stuck slots (cancelled, never answered) replace the
 * process, gracefully.
 */
describe('deadlines fail their caller alone', () => {
  const env = useManagers();
  const instanceOf = (manager: Awaited<ReturnType<typeof env.start>>) => manager.snapshot().children![0]!.children![0]!;

  // Regression: a 200 ms deadline among three patient 1.5 s requests killed the handler, and the
  // three patient callers got HANDLER_CRASHED ("killed after a fault (request deadline of 200 ms passed)").
  it('three patient requests and one impatient one on a concurrency-4 handler: three answers, one TIMEOUT, same pid, no restart', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { concurrency: 4 })] });
    const [pid] = pidsOf(manager, 'rogue');
    const patient = [1, 2, 3].map((value) => manager.request('rogue', { ms: 1500, value }, { method: 'slow' }));
    const impatient = manager.request('rogue', { ms: 1500, value: 4 }, { method: 'slow', timeoutMs: 200 });
    const error = await failure(impatient);
    expect(error).toMatchObject({ code: 'TIMEOUT', details: { reason: 'deadline' } });
    expect(error.message).toContain('a cancel was sent to the handler');
    // Its slot stays taken until the handler answers it: still four in flight.
    expect(instanceOf(manager)).toMatchObject({ inFlight: 4, pid });
    expect(await Promise.all(patient)).toEqual([1, 2, 3]);
    // The impatient request's late answer arrives with the others: dropped and counted, slot freed.
    await until(() => instanceOf(manager).lateAnswers === 1, 'the late answer to be counted');
    expect(instanceOf(manager)).toMatchObject({ pid, restarts: 0, inFlight: 0, state: 'ready', lateAnswers: 1 });
    expect(env.of('fault')).toEqual([]);
    expect(env.of('restart')).toEqual([]);
    await manager.stop();
  });

  // Regression: six requests with a 100 ms deadline to a 1 s method made the root give up
  // ("more than 3 restarts in 5000 ms (last: request deadline of 100 ms passed)").
  it('repeated short deadlines never count toward intensity: a root that allows no restart at all does not give up', async () => {
    const manager = await env.start({
      children: [await fixtureDriver('rogue', { concurrency: 8 })],
      intensity: { maxRestarts: 0, periodMs: 60_000 },
    });
    const [pid] = pidsOf(manager, 'rogue');
    for (let i = 0; i < 6; i++) {
      await expect(manager.request('rogue', { ms: 1000, value: i }, { method: 'slow', timeoutMs: 50 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    }
    expect(await manager.request('rogue', 'still here')).toBe('still here');
    expect(pidsOf(manager, 'rogue')).toEqual([pid]);
    expect(env.of('gave-up')).toEqual([]);
    expect(env.of('restart')).toEqual([]);
    expect(manager.stopped).toBe(false);
    await manager.stop();
  });

  it('an abort is the same as a deadline: that caller alone, the slot held until the late answer, no restart', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { concurrency: 2 })] });
    const [pid] = pidsOf(manager, 'rogue');
    const controller = new AbortController();
    const aborted = manager.request('rogue', { ms: 400, value: 'a' }, { method: 'slow', signal: controller.signal });
    const other = manager.request('rogue', { ms: 400, value: 'b' }, { method: 'slow' });
    await until(() => manager.snapshot().inFlight === 2, 'both in flight');
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
    expect(instanceOf(manager).inFlight).toBe(2);
    expect(await other).toBe('b');
    await until(() => instanceOf(manager).lateAnswers === 1, 'the late answer');
    expect(instanceOf(manager)).toMatchObject({ pid, restarts: 0, inFlight: 0 });
    await manager.stop();
  });

  it('a stuck slot (cancelled, never answered) leaves the others serving; when every slot is stuck the instance is recycled: an event, no restart, no intensity', async () => {
    const manager = await env.start({
      children: [await fixtureDriver('rogue', { concurrency: 2, cancelGraceMs: 150 })],
      intensity: { maxRestarts: 0, periodMs: 60_000 },
    });
    const [pid] = pidsOf(manager, 'rogue');
    await expect(manager.request('rogue', null, { method: 'silent', timeoutMs: 50 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await until(() => instanceOf(manager).stuck === 1, 'one stuck slot');
    // One slot stuck out of two: the instance still serves, on its one free slot.
    expect(await manager.request('rogue', 'one slot left')).toBe('one slot left');
    expect(env.of('recycle')).toEqual([]);
    await expect(manager.request('rogue', null, { method: 'silent', timeoutMs: 50 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await until(() => env.of('recycle').length === 1, 'the recycle');
    expect(env.of('recycle')[0]).toMatchObject({ driver: 'rogue', generation: 1 });
    expect(env.of('recycle')[0]!.reason).toContain('every slot stuck: 2 cancelled request(s) unanswered 150 ms after their cancel');
    // Requests sent meanwhile wait for the replacement.
    expect(await manager.request('rogue', 'fresh')).toBe('fresh');
    expect(await gone(pid!, 5000)).toBe(true);
    expect(instanceOf(manager)).toMatchObject({ generation: 2, restarts: 0, recycles: 1, stuck: 0 });
    expect(env.of('exit')[0]).toMatchObject({ pid, code: 0, signal: null }); // it said bye and left
    expect(env.of('restart')).toEqual([]);
    expect(env.of('fault')).toEqual([]);
    expect(env.of('gave-up')).toEqual([]);
    await manager.stop();
  });

  it('with the heartbeat off, a stopped process is still replaced: its timed-out request holds a stuck slot, the recycle kills it after shutdownMs', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { heartbeatMs: false, cancelGraceMs: 100, shutdownMs: 100 })] });
    const [pid] = pidsOf(manager, 'rogue');
    await expect(manager.request('rogue', null, { method: 'stop', timeoutMs: 100 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(await manager.request('rogue', 'replaced')).toBe('replaced');
    expect(await gone(pid!, 5000)).toBe(true);
    expect(env.of('recycle')).toHaveLength(1);
    expect(env.of('exit')[0]).toMatchObject({ pid, signal: 'SIGKILL' });
    expect(env.of('restart')).toEqual([]);
    await manager.stop();
  });

  it('a queued request past its deadline rejects TIMEOUT without ever reaching a handler', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { concurrency: 1 })] });
    const first = manager.request('rogue', { ms: 300, value: 'first' }, { method: 'slow' });
    await until(() => manager.snapshot().inFlight === 1, 'the first in flight');
    const error = await failure(manager.request('rogue', 'never sent', { timeoutMs: 50 }));
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect(error.message).toContain('waiting in the queue');
    expect(await first).toBe('first');
    expect(await outcomes([manager.request('rogue', 'x')])).toEqual({ OK: 1 });
    await manager.stop();
  });
});
