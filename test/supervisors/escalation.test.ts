import { describe, expect, it } from 'vitest';
import { defineDriver, supervisor } from 'umdkit';
import { inlineImage } from '../fixtures/inline.js';
import { failure, fixtureDriver, gone, outcomes, pidsOf, until, useManagers } from '../manager/harness.js';
import { ManualClock } from '../manager/manual-clock.js';

const fast = { backoff: { initialMs: 10, maxMs: 20, jitter: 0 } };

describe('intensity and escalation', () => {
  const env = useManagers();

  it('intensity exceeded at a leaf supervisor escalates exactly one level; the root restarts the leaf', async () => {
    const leaf = supervisor({ name: 'leaf', intensity: { maxRestarts: 1, periodMs: 10_000 }, children: [await fixtureDriver('rogue', { name: 'a', ...fast })] });
    const manager = await env.start({ name: 'root', children: [leaf, await fixtureDriver('rogue', { name: 'b', ...fast })], intensity: { maxRestarts: 5, periodMs: 10_000 } });
    const [b] = pidsOf(manager, 'b');
    for (let crash = 0; crash < 2; crash++) {
      const [a] = pidsOf(manager, 'a');
      process.kill(a!, 'SIGKILL');
      await until(() => ![a, null].includes(pidsOf(manager, 'a')[0]!) && manager.snapshot().children![0]!.children![0]!.children![0]!.state === 'ready', `restart ${crash + 1}`, 5000);
    }
    expect(env.of('escalate').map((e) => e.supervisor)).toEqual(['leaf']);
    expect(env.of('escalate')[0]!.reason).toContain('leaf');
    expect(env.of('gave-up')).toEqual([]);
    expect(manager.snapshot().restarts).toBe(1); // the root restarted the leaf once
    expect(pidsOf(manager, 'b')).toEqual([b]); // one_for_one at the root: b untouched
    expect(await manager.request('a', 'a is back')).toBe('a is back');
    await manager.stop();
  });

  it('intensity exceeded at the root: GAVE_UP for every pending request, an event, no process left', async () => {
    const manager = await env.start({
      children: [await fixtureDriver('rogue', { name: 'a', ...fast }), await fixtureDriver('rogue', { name: 'b', concurrency: 1, ...fast })],
      intensity: { maxRestarts: 1, periodMs: 10_000 },
    });
    const pids = [...pidsOf(manager, 'a'), ...pidsOf(manager, 'b')];
    const pending = [
      manager.request('b', null, { method: 'silent' }),
      manager.request('b', 'queued behind it'),
      manager.request('b', 'and another'),
    ];
    const settled = outcomes(pending);
    await until(() => manager.snapshot().inFlight === 1, 'b busy');
    process.kill(pidsOf(manager, 'a')[0]!, 'SIGKILL');
    await until(() => pidsOf(manager, 'a')[0] !== pids[0] && pidsOf(manager, 'a')[0] !== null, 'the first restart');
    process.kill(pidsOf(manager, 'a')[0]!, 'SIGKILL');
    expect(await settled).toEqual({ GAVE_UP: 3 });
    const [gaveUp] = env.of('gave-up');
    expect(gaveUp!.reason).toMatch(/root: more than 1 restart/);
    await expect(manager.request('a', 'too late')).rejects.toMatchObject({ code: 'GAVE_UP' });
    expect(manager.snapshot().gaveUp).toBe(gaveUp!.reason);
    for (const pid of pids) expect(await gone(pid!, 3000)).toBe(true);
    await until(() => env.of('stopped').length === 1, 'the tree to be stopped');
  });

  it('a child that always fails at start does not spin: bounded attempts, then an error naming the driver and its last stderr lines', async () => {
    const broken = defineDriver({
      name: 'broken',
      image: inlineImage("console.error('cannot open /etc/broken.conf: ENOENT'); process.exit(1);"),
      ...fast,
    });
    const error = await failure(env.start({ children: [broken], startIntensity: { maxRestarts: 2, periodMs: 60_000 } }));
    expect(error.code).toBe('GAVE_UP');
    expect(error.message).toContain('broken');
    expect(error.message).toContain('cannot open /etc/broken.conf');
    expect(env.of('spawn').length + env.of('exit').length).toBeLessThanOrEqual(2 * 3);
    const attempts = env.of('restart').length + 1;
    expect(attempts).toBe(3); // the first start and 2 restarts, then it gives up
  });

  // On the simulated clock: the backoff waits and the stable period are the clock's, so a loaded
  // machine (a slow restart, a slow poll) cannot reset the backoff early or stretch a wait.
  it('backoff between restarts follows the policy (no jitter: 40, 80, 160 ms), and resets after a stable period', async () => {
    const clock = new ManualClock();
    const manager = await env.start({
      children: [await fixtureDriver('rogue', { name: 'a', backoff: { initialMs: 40, factor: 2, maxMs: 1000, jitter: 0, resetAfterMs: 600 } })],
      intensity: { maxRestarts: 10, periodMs: 60_000 },
      clock,
    });
    const instance = () => manager.snapshot().children![0]!.children![0]!;
    const crashOnce = async (expectedDelay: number) => {
      const { pid } = instance();
      process.kill(pid!, 'SIGKILL');
      await until(() => instance().state === 'backoff', 'the backoff');
      // Nothing starts until the clock has waited the whole delay.
      clock.advance(expectedDelay - 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(instance().state).toBe('backoff');
      clock.advance(1);
      await until(() => ![pid, null].includes(instance().pid) && instance().state === 'ready', 'the restart');
    };
    await crashOnce(40);
    await crashOnce(80);
    await crashOnce(160);
    expect(env.of('restart').map((r) => r.delayMs)).toEqual([40, 80, 160]);
    clock.advance(700); // up for longer than resetAfterMs
    await crashOnce(40);
    expect(env.of('restart').map((r) => r.delayMs)).toEqual([40, 80, 160, 40]);
    await manager.stop({ drainMs: 0 });
  });

  it('requests sent during a restart are not lost: queued and answered, up to maxQueue, then QUEUE_FULL', async () => {
    const manager = await env.start({
      children: [await fixtureDriver('rogue', { name: 'a', maxQueue: 20, backoff: { initialMs: 300, jitter: 0 } })],
    });
    const [pid] = pidsOf(manager, 'a');
    process.kill(pid!, 'SIGKILL');
    await until(() => manager.snapshot().children![0]!.children![0]!.state === 'backoff', 'the backoff');
    const during = Array.from({ length: 20 }, (_, i) => manager.request('a', i));
    await expect(manager.request('a', 'one too many')).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    expect(manager.snapshot().queued).toBe(20);
    expect(await Promise.all(during)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await manager.stop();
  });
});
